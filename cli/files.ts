import { chmodSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './options.js';

/**
 * Writes `data` to a temporary file beside `path`, then renames it over `path`: a reader
 * never sees half a file. A symlink is followed (its target is rewritten, the link stays)
 * and an existing file keeps its mode.
 */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  let target = path;
  let mode: number | undefined;
  try {
    target = realpathSync(path);
    mode = statSync(target).mode & 0o7777;
  } catch {
    // A new file: written where asked, with the default mode.
  }
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  if (mode !== undefined) chmodSync(tmp, mode);
  renameSync(tmp, target);
}

/** Input files are read whole: at most this many bytes, so a huge or endless file is refused, not read forever. */
export const MAX_INPUT_BYTES = 2 ** 30;

/**
 * Reads an input file named by an option (`--data`, `--inputs`): a regular file of at
 * most `max` bytes, or an error saying what is wrong with it. `/dev/zero`, a FIFO or a
 * folder is refused before anything is read.
 */
export function readInputFile(path: string, what: string, max = MAX_INPUT_BYTES): Buffer {
  const size = regularFileSize(path, what);
  if (size > max) throw new UsageError(`${what} '${path}' has ${size} bytes, over the ${max}-byte limit for input files`);
  return readFileSync(path);
}

/**
 * The size of the regular file an option names, or a UsageError naming the option and
 * the path: missing, a folder (with `usual`, the file such a folder usually holds, named
 * as the likely meaning when it is there), a device, a pipe or a socket. Nothing is opened.
 */
export function regularFileSize(path: string, what: string, usual?: string): number {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `cannot read ${what} '${path}': no such file` : `cannot read ${what} '${path}': ${(e as Error).message}`);
  }
  if (st.isDirectory()) {
    const inside = usual === undefined ? undefined : join(path, usual);
    const hint = inside !== undefined && statSync(inside, { throwIfNoEntry: false })?.isFile() ? ` (did you mean '${inside}'?)` : '';
    throw new UsageError(`${what} '${path}' is a folder, not a file${hint}`);
  }
  if (!st.isFile()) throw new UsageError(`${what} '${path}' is not a regular file (a device, a pipe or a socket), which mdc does not read`);
  return st.size;
}
