import { randomBytes } from 'node:crypto';
import { open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  CheckpointError,
  crc32,
  decodeHeader,
  encodeParts,
  headerLength,
  tensorOf,
  type Checkpoint,
  type CheckpointEntry,
  type CheckpointLayout,
  type CheckpointTensor,
  type CheckpointTensors,
  type DecodeOptions,
} from './checkpoint.js';

/**
 * Checkpoint files in Node. A write never leaves a half-written file under the target
 * name: it goes to a temporary file in the same directory (so the rename cannot cross
 * file systems), is flushed to disk, renamed over the target in one step, and the
 * directory is flushed so the rename itself survives a power cut. A process killed at
 * any point leaves either the previous checkpoint or the new one, both whole; at worst a
 * stray temporary file, which the next write to the same target removes.
 *
 * Reads and writes go through a file handle in chunks, never the whole file as one
 * buffer, so a checkpoint may be any size (Node's readFile stops at 2 GiB).
 */

export interface WriteCheckpointOptions {
  /** Called after each chunk reaches the temporary file (tests use it to die midway). */
  readonly onProgress?: (bytesWritten: number, totalBytes: number) => void | Promise<void>;
  /** Called after the temporary file is complete and flushed, before the rename. */
  readonly beforeRename?: (tempPath: string) => void | Promise<void>;
}

/** Reads and writes are chunked so that a large tensor does not need a second copy in memory. */
const CHUNK = 16 * 1024 * 1024;

const tempPrefix = (target: string) => `.${basename(target)}.`;
const TEMP_RE = /^\.(\d+)\.[0-9a-f]{12}\.tmp$/;

export async function writeCheckpoint(
  path: string,
  tensors: CheckpointTensors,
  metadata: Readonly<Record<string, string>> = {},
  opts: WriteCheckpointOptions = {},
): Promise<void> {
  // Encode first: a bad tensor must fail before anything touches the disk.
  const { header, chunks, bytes } = encodeParts(tensors, metadata);
  const dir = dirname(path);
  await removeStaleTemps(path);
  const temp = join(dir, `${tempPrefix(path)}${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(temp, 'wx', 0o644);
  try {
    let written = 0;
    for (const part of [header, ...chunks]) {
      for (let at = 0; at < part.length; at += CHUNK) {
        const piece = part.subarray(at, Math.min(part.length, at + CHUNK));
        await writeAll(fh, piece);
        written += piece.length;
        await opts.onProgress?.(written, bytes);
      }
    }
    await fh.sync();
    await fh.close();
    await opts.beforeRename?.(temp);
    await rename(temp, path);
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw e;
  }
  await syncDirectory(dir);
}

/** Reads and validates a checkpoint; a corrupt or truncated file is refused with a CheckpointError naming the problem. Never writes. */
export async function readCheckpoint(path: string, opts: Omit<DecodeOptions, 'source'> = {}): Promise<Checkpoint> {
  const tensors: [string, CheckpointTensor][] = [];
  const metadata = await visitCheckpoint(path, (name, t) => void tensors.push([name, t]), opts);
  // fromEntries defines own properties, even one named __proto__.
  return { tensors: Object.fromEntries(tensors), metadata };
}

export interface VisitOptions extends Omit<DecodeOptions, 'source'> {
  /** Called with the checked header before any data is read: a caller that throws here (names or shapes it cannot use) reads none of it. */
  readonly onHeader?: (layout: CheckpointLayout) => void | Promise<void>;
}

/**
 * Reads a checkpoint's tensors in file order, each straight from the file into a buffer
 * of its own, and hands each to `visit`: memory holds what `visit` keeps, and no more
 * than one tensor besides. The checksum covers the whole data section, so `visit` sees
 * data not yet verified: the promise rejects after the last tensor when the file is
 * corrupt, and resolves with the metadata when it is whole. A folder, a device or a pipe
 * is refused before it is opened (opening a pipe would wait for a writer).
 */
export async function visitCheckpoint(
  path: string,
  visit: (name: string, tensor: CheckpointTensor) => void | Promise<void>,
  opts: VisitOptions = {},
): Promise<Record<string, string>> {
  const notFile = (s: { isFile(): boolean; isDirectory(): boolean }) =>
    s.isFile() ? undefined : s.isDirectory() ? 'a folder, not a checkpoint file' : 'not a regular file (a device, a pipe or a socket)';
  const why = notFile(await stat(path));
  if (why) throw new CheckpointError(`${path}: ${why}`);
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat();
    const changed = notFile(st);
    if (changed) throw new CheckpointError(`${path}: ${changed}`);
    const first = await readAt(fh, new Uint8Array(Math.min(8, st.size)), 0, path);
    const n = headerLength(first, st.size, path);
    const { onHeader, ...decode } = opts;
    const layout = decodeHeader(await readAt(fh, new Uint8Array(n), 8, path), st.size, { ...decode, source: path });
    await onHeader?.(layout);
    let crc = 0;
    // Skipped tensors (skipOtherDtypes) are read only for the checksum, in file order between the others.
    const order = [...layout.tensors.map((t) => ({ t, load: true })), ...layout.skipped.map((t) => ({ t, load: false }))].sort((x, y) => x.t.begin - y.t.begin);
    for (const { t, load } of order) {
      if (!load) {
        if (!layout.checksummed) continue;
        const piece = new Uint8Array(Math.min(CHUNK, t.end - t.begin));
        for (let at = t.begin; at < t.end; at += piece.length) {
          const part = piece.subarray(0, Math.min(piece.length, t.end - at));
          crc = crc32(await readAt(fh, part, layout.dataStart + at, path), crc);
        }
        continue;
      }
      let buffer: ArrayBuffer;
      try {
        buffer = new ArrayBuffer(t.end - t.begin);
      } catch {
        throw new CheckpointError(`${path}: tensor '${t.name}' needs ${t.end - t.begin} bytes, more than this process can allocate`);
      }
      crc = crc32(await readAt(fh, new Uint8Array(buffer), layout.dataStart + t.begin, path), crc);
      await visit(t.name, tensorOf(t as CheckpointEntry, buffer));
    }
    layout.verify(crc);
    return layout.metadata;
  } finally {
    await fh.close();
  }
}

/** Fills `into` from the file at `position`, in chunks; a file that ends early (shrunk while being read) is refused. */
async function readAt(fh: FileHandle, into: Uint8Array, position: number, path: string): Promise<Uint8Array> {
  let at = 0;
  while (at < into.length) {
    const { bytesRead } = await fh.read(into, at, Math.min(CHUNK, into.length - at), position + at);
    if (bytesRead === 0) throw new CheckpointError(`${path}: truncated: the file ended at byte ${position + at} while it was being read`);
    at += bytesRead;
  }
  return into;
}

async function writeAll(fh: FileHandle, bytes: Uint8Array) {
  let at = 0;
  while (at < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, at, bytes.length - at);
    at += bytesWritten;
  }
}

/** Flushes a directory entry change (the rename). Some platforms (Windows) cannot open a directory for this; there rename is the best we can do. */
async function syncDirectory(dir: string) {
  let fh;
  try {
    fh = await open(dir, 'r');
  } catch {
    return;
  }
  try {
    await fh.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EPERM' && code !== 'EISDIR' && code !== 'EBADF') throw e;
  } finally {
    await fh.close();
  }
}

/** Temporary files of earlier writes to the same target whose process is gone (killed midway). */
async function removeStaleTemps(target: string) {
  const prefix = tempPrefix(target);
  let names: string[];
  try {
    names = await readdir(dirname(target));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = TEMP_RE.exec(name.slice(prefix.length - 1));
    if (!m || alive(Number(m[1]))) continue;
    await unlink(join(dirname(target), name)).catch(() => {});
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
