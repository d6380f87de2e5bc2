/**
 * The tuning cache: a JSON file of the fastest matmul configuration per adapter and
 * shape class, and of the row-kernel threshold per adapter. It is only ever read when a caller asks for a tuned target; codegen
 * never reads it by itself, so `mdc compile` output does not depend on it. A missing,
 * stale or corrupt file costs speed, never correctness (every configuration is correct,
 * and codegen re-checks each against the shape it is used for).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { MatmulConfig, TuningTable } from '../kernels/matmul/config.js';
import { ROW_UNIT_CANDIDATES } from './rows.js';

export const TUNING_FORMAT = 'mdc.tuning';
/**
 * Bumped whenever the kernels a configuration names change enough that old timings no
 * longer rank them (2: the subgroup matmul's run-time shuffle loop and larger blocks); a
 * file of another version reads as empty and is tuned afresh.
 */
const VERSION = 2;

export interface CachedEntry {
  readonly config: MatmulConfig;
  /** Median ms of the winner and the shape it was measured on: [M, N, K, batch]. */
  readonly ms: number;
  readonly shape: readonly [number, number, number, number];
  readonly tunedAt: string;
}

/** The row-kernel threshold chosen for an adapter (codegen/tune/rows.ts). */
export interface RowEntry {
  readonly rowUnits: number;
  readonly tunedAt: string;
}

interface CacheFile {
  readonly format: typeof TUNING_FORMAT;
  readonly version: typeof VERSION;
  readonly adapters: Record<string, Record<string, CachedEntry>>;
  /** Per adapter; absent in files written before row tuning, which then tune rows alone. */
  readonly rows?: Record<string, RowEntry>;
}

/**
 * Where the cache lives: $MDC_CACHE_DIR, else $XDG_CACHE_HOME/mdc, else
 * node_modules/.cache/mdc when run from a package with node_modules, else ~/.cache/mdc.
 */
export function defaultCacheFile(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const dir =
    env['MDC_CACHE_DIR'] ??
    (env['XDG_CACHE_HOME']
      ? join(env['XDG_CACHE_HOME'], 'mdc')
      : existsSync(join(cwd, 'node_modules'))
        ? join(cwd, 'node_modules', '.cache', 'mdc')
        : join(homedir(), '.cache', 'mdc'));
  return join(dir, 'tuning.json');
}

/** Where the cache's problems are reported: a corrupt cache is ignored, never silently. */
export type Warn = (message: string) => void;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const MATMUL_KINDS: readonly string[] = ['plain', 'tiled', 'subgroup', 'gemv'];

function read(file: string, warn?: Warn): CacheFile {
  const empty: CacheFile = { format: TUNING_FORMAT, version: VERSION, adapters: {} };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') warn?.(`tuning cache ${file} cannot be read (${(e as Error).message}); tuning afresh`);
    return empty;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    warn?.(`tuning cache ${file} is not JSON (${(e as Error).message}); ignoring it and tuning afresh`);
    return empty;
  }
  // Another version is a cache of other kernels, stale by design: read as empty without a word.
  if (isObj(raw) && raw['format'] === TUNING_FORMAT && raw['version'] !== VERSION) return empty;
  if (!isObj(raw) || raw['format'] !== TUNING_FORMAT || !isObj(raw['adapters'])) {
    warn?.(`tuning cache ${file} is not an mdc tuning cache (format "${TUNING_FORMAT}" with adapters); ignoring it and tuning afresh`);
    return empty;
  }
  return raw as unknown as CacheFile;
}

/**
 * The cached entries for one adapter (empty when there are none or the file is unreadable).
 * An entry that is not a matmul configuration of a kind mdc has is left out and reported;
 * `tuneTarget` also refuses one that is not among the configurations it times for the shape.
 */
export function loadEntries(adapter: string, file = defaultCacheFile(), warn?: Warn): Readonly<Record<string, CachedEntry>> {
  const entries: unknown = read(file, warn).adapters[adapter];
  if (entries === undefined) return {};
  if (!isObj(entries)) {
    warn?.(`tuning cache ${file}: the entries of adapter '${adapter}' are not an object; ignoring them`);
    return {};
  }
  const good: Record<string, CachedEntry> = {};
  for (const [cls, e] of Object.entries(entries)) {
    if (isObj(e) && isObj(e['config']) && MATMUL_KINDS.includes(e['config']['kind'] as string)) good[cls] = e as unknown as CachedEntry;
    else warn?.(`tuning cache ${file}: entry '${cls}' of adapter '${adapter}' is not a matmul configuration; ignoring it`);
  }
  return good;
}

/** The tuning table for `adapter`, for `KernelTarget.tuning`; undefined when nothing is cached. */
export function loadTuning(adapter: string, file = defaultCacheFile(), warn?: Warn): TuningTable | undefined {
  const entries = loadEntries(adapter, file, warn);
  const configs = Object.fromEntries(
    Object.entries(entries)
      .filter(([, e]) => e && typeof e.config === 'object')
      .map(([k, e]) => [k, e.config]),
  );
  return Object.keys(configs).length ? { adapter, entries: configs } : undefined;
}

/** The adapter's cached row-kernel threshold, if a valid one is cached: one of the thresholds the tuner times. */
export function loadRowUnits(adapter: string, file = defaultCacheFile(), warn?: Warn): number | undefined {
  const rows: unknown = read(file, warn).rows;
  const entry = isObj(rows) ? rows[adapter] : undefined;
  if (entry === undefined) return undefined;
  const r = isObj(entry) ? entry['rowUnits'] : undefined;
  if (typeof r === 'number' && ROW_UNIT_CANDIDATES.includes(r)) return r;
  warn?.(`tuning cache ${file}: the row threshold of adapter '${adapter}' is ${JSON.stringify(r)}, not one of ${ROW_UNIT_CANDIDATES.join(', ')}; ignoring it`);
  return undefined;
}

/** Merges `entries` (and a row-kernel threshold) into the adapter's cache (written to a temporary file, then renamed into place). */
export function saveEntries(adapter: string, entries: Readonly<Record<string, CachedEntry>>, file = defaultCacheFile(), rows?: RowEntry): void {
  const cache = read(file);
  const next: CacheFile = {
    ...cache,
    adapters: { ...cache.adapters, [adapter]: { ...cache.adapters[adapter], ...entries } },
    ...(rows || cache.rows ? { rows: { ...cache.rows, ...(rows ? { [adapter]: rows } : {}) } } : {}),
  };
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(next, null, 1) + '\n');
  renameSync(tmp, file);
}
