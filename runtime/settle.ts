/**
 * Awaits a GPU promise without starving the GPU. Dawn's Node binding does not keep
 * the event loop alive for its pending promises, so a pending GPU promise alone would
 * let Node exit; a 1 ms timer keeps the loop alive until it settles. In browsers this
 * is a plain await.
 */
export async function settle<T>(p: Promise<T>): Promise<T> {
  if (typeof setInterval === 'undefined' || typeof process === 'undefined') return p;
  const keepAlive = setInterval(() => {}, 1);
  try {
    return await p;
  } finally {
    clearInterval(keepAlive);
  }
}
