import { chmodSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { UsageError } from './options.js';

/**
 * Writes `data` to a temporary file beside `path`, then renames it over `path`: a reader
 * never sees half a file. A symlink is followed (its target is rewritten, the link stays)
 * and an existing file keeps its mode.
 */
export function writeAtomic(path: string, data: string): void {
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
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new UsageError(`${what} '${path}' is a folder, not a file`);
    if (!st.isFile()) throw new UsageError(`${what} '${path}' is not a regular file (a device, a pipe or a socket), which mdc does not read`);
    size = st.size;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `cannot read ${what} '${path}': no such file` : `cannot read ${what} '${path}': ${(e as Error).message}`);
  }
  if (size > max) throw new UsageError(`${what} '${path}' has ${size} bytes, over the ${max}-byte limit for input files`);
  return readFileSync(path);
}
