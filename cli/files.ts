import { renameSync, writeFileSync } from 'node:fs';

/** Writes `data` to a temporary file beside `path`, then renames it over `path`: a reader never sees half a file. */
export function writeAtomic(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
