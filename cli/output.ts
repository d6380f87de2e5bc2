/**
 * An output folder that mdc shares with its user. mdc records what it wrote in
 * `DIR/mdc-manifest.json` (per model: each file's path and sha256), and from then on:
 * - it writes only files it wrote before (unchanged since) or files that do not exist;
 *   a file of the user's in the way is refused, never overwritten;
 * - it removes only files of that model that it wrote before, are unchanged, and are no
 *   longer produced (stale kernels); a file the user edited is left, with a warning;
 * - a new folder appears whole (staged beside it, then renamed); in an existing folder
 *   every file is staged first, so a failure before the renames leaves the folder as it was.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, parse, resolve } from 'node:path';
import { writeAtomic } from './files.js';
import { UsageError } from './options.js';

export const MANIFEST = 'mdc-manifest.json';

/** Per model, each file mdc wrote (a path relative to the folder, `/`-separated) and its sha256. */
interface Manifest {
  readonly mdc: 1;
  readonly models: Record<string, Record<string, string>>;
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** Refuses output paths mdc must not write into: empty, the filesystem's root, or an existing non-folder. */
export function checkOutputDir(dir: string, flag = '-o'): void {
  if (!dir.trim()) throw new UsageError(`${flag} needs a folder name, e.g. ${flag} out`);
  const abs = resolve(dir);
  if (abs === parse(abs).root) throw new UsageError(`${flag} '${dir}' is the filesystem's root; give a folder of its own, e.g. ${flag} out`);
  if (existsSync(abs) && !statSync(abs).isDirectory()) throw new UsageError(`${flag} '${dir}' exists and is not a folder`);
}

function readManifest(dir: string): Manifest {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) return { mdc: 1, models: {} };
  let m: unknown;
  try {
    m = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`'${path}' is not mdc's manifest (${(e as Error).message}); move it away or choose another output folder`);
  }
  const models = (m as Manifest | null)?.models;
  const valid =
    (m as Manifest | null)?.mdc === 1 &&
    typeof models === 'object' &&
    models !== null &&
    Object.values(models).every((fs) => typeof fs === 'object' && fs !== null && Object.values(fs).every((h) => typeof h === 'string'));
  if (!valid) throw new UsageError(`'${path}' is not mdc's manifest (unexpected contents); move it away or choose another output folder`);
  return { mdc: 1, models: { ...models } };
}

/** What `writeOutput` did: the files written (as given, joined to the folder) and what it left alone. */
export interface OutputResult {
  readonly written: readonly string[];
  readonly removed: readonly string[];
  /** Stale files of this model that the user changed since mdc wrote them: kept. */
  readonly kept: readonly string[];
}

/**
 * Writes `files` (relative paths with `/`) for `model` into `dir` under the rules above.
 * Throws a UsageError naming the files in the way before anything is written.
 */
export function writeOutput(dir: string, model: string, files: ReadonlyMap<string, string>): OutputResult {
  checkOutputDir(dir);
  const at = (rel: string) => join(dir, ...rel.split('/'));
  const fresh = !existsSync(dir);
  const manifest = fresh ? { mdc: 1 as const, models: {} } : readManifest(dir);
  const ours = new Map<string, string>();
  for (const fs of Object.values(manifest.models)) for (const [rel, h] of Object.entries(fs)) ours.set(rel, h);

  const newHashes: Record<string, string> = {};
  const inTheWay: string[] = [];
  for (const [rel, data] of files) {
    newHashes[rel] = sha256(data);
    const path = at(rel);
    if (!fresh && existsSync(path)) {
      if (!statSync(path).isFile()) inTheWay.push(`${rel} (not a file)`);
      else {
        const now = sha256(readFileSync(path));
        if (now !== newHashes[rel] && ours.get(rel) !== now) inTheWay.push(ours.has(rel) ? `${rel} (changed since mdc wrote it)` : rel);
      }
    }
  }
  if (inTheWay.length) {
    const shown = inTheWay.slice(0, 3).join(', ') + (inTheWay.length > 3 ? ` and ${inTheWay.length - 3} more` : '');
    throw new UsageError(
      `'${dir}' has files mdc did not write (or that were edited since): ${shown}; mdc does not overwrite them — move them or choose another -o folder`,
    );
  }

  const previous = manifest.models[model] ?? {};
  const next: Manifest = { mdc: 1, models: { ...manifest.models, [model]: newHashes } };
  const manifestText = JSON.stringify(sortKeys(next), null, 1) + '\n';

  // Stage everything first: a failure here leaves the output folder untouched.
  const stage = fresh ? `${resolve(dir)}.mdc-${process.pid}.tmp` : join(dir, `.mdc-${process.pid}.tmp`);
  rmSync(stage, { recursive: true, force: true });
  try {
    for (const [rel, data] of files) writeStaged(join(stage, ...rel.split('/')), data);
    writeStaged(join(stage, MANIFEST), manifestText);
    if (fresh) {
      mkdirSync(dirname(resolve(dir)), { recursive: true });
      renameSync(stage, dir);
    } else {
      for (const rel of files.keys()) moveInto(join(stage, ...rel.split('/')), at(rel));
      moveInto(join(stage, MANIFEST), join(dir, MANIFEST));
    }
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }

  const removed: string[] = [];
  const kept: string[] = [];
  for (const [rel, h] of Object.entries(previous)) {
    if (files.has(rel)) continue;
    const path = at(rel);
    if (!existsSync(path)) continue;
    if (statSync(path).isFile() && sha256(readFileSync(path)) === h) {
      rmSync(path);
      removed.push(path);
    } else kept.push(path);
  }
  return { written: [...files.keys()].map(at), removed, kept };
}

function writeStaged(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeAtomic(path, data);
}

/** Renames a staged file over its place; a symlink there is followed (the link stays), as `writeAtomic` does. */
function moveInto(staged: string, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  if (existsSync(path)) writeAtomic(path, readFileSync(staged, 'utf8'));
  else renameSync(staged, path);
}

function sortKeys(m: Manifest): Manifest {
  const models: Record<string, Record<string, string>> = {};
  for (const name of Object.keys(m.models).sort())
    models[name] = Object.fromEntries(Object.entries(m.models[name]!).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { mdc: 1, models };
}
