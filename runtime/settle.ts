/**
 * Awaits a GPU promise without starving the GPU. In Node, Dawn's binding does not keep
 * the event loop alive for its pending promises, and it busy-polls the main thread
 * while they are pending, taking a core from llvmpipe. Sleeping in 1 ms slices
 * (Atomics.wait) and then yielding to the loop (setImmediate) fixes both. In browsers
 * (no setImmediate, no blocking waits on the main thread) this is a plain await.
 */
export async function settle<T>(p: Promise<T>): Promise<T> {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown; process?: { versions?: { node?: string } } };
  if (!g.process?.versions?.node || !g.setImmediate || typeof SharedArrayBuffer === 'undefined') return p;
  const immediate = g.setImmediate;
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (!done) {
    Atomics.wait(cell, 0, 0, 1);
    await new Promise<void>((resolve) => immediate(resolve));
  }
  return p;
}
