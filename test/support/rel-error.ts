/** ‖got − want‖₂ / ‖want‖₂, the relative L2 error tests and benchmarks state their tolerances in; the lengths must agree. */
export function relativeL2(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new RangeError(`relativeL2: ${got.length} values against ${want.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i]! - want[i]!) ** 2;
    den += want[i]! ** 2;
  }
  return Math.sqrt(num / den);
}
