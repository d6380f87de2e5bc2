/**
 * Awaits a GPU promise without starving the GPU. Dawn's Node binding does not keep
 * the event loop alive for its pending promises and busy-polls while they are pending,
 * taking a core from llvmpipe. Sleeping in 1 ms slices and yielding to the loop fixes
 * both. In browsers this is a plain await.
 */
export async function settle<T>(p: Promise<T>): Promise<T> {
  if (typeof setImmediate === 'undefined' || typeof SharedArrayBuffer === 'undefined') return p;
  let done = false;
  p.then(() => { done = true; }, () => { done = true; });
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (!done) {
    Atomics.wait(cell, 0, 0, 1);
    await new Promise<void>((r) => setImmediate(r));
  }
  return p;
}
