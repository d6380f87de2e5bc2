/**
 * A child process for the kill-midway test: writes a large checkpoint to argv[2] and,
 * once at least half of it has reached the temporary file, reports `midway <bytes>` on
 * stdout and blocks, so that the parent can SIGKILL it in the middle of the write.
 * With `--no-wait` it writes straight through (for kills at an arbitrary moment).
 */
import { writeSync } from 'node:fs';
import { writeCheckpoint } from '../../runtime/checkpoint-node.js';

const [path, mib] = [process.argv[2]!, Number(process.argv[3] ?? 64)];
const wait = !process.argv.includes('--no-wait');
const n = (mib * 1024 * 1024) / 8;
const a = new Float32Array(n).map((_, i) => i % 1000);
const b = new Float32Array(n).map((_, i) => -(i % 777));
let reported = false;
await writeCheckpoint(
  path,
  { a: { dtype: 'F32', shape: [n], data: a }, b: { dtype: 'F32', shape: [n], data: b } },
  { step: 'new' },
  {
    onProgress: (written, total) => {
      if (!wait || reported || written < total / 2) return;
      reported = true;
      writeSync(1, `midway ${written} ${total}\n`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    },
  },
);
writeSync(1, 'done\n');
