/**
 * The HiGHS solver (`highs`, an Emscripten build that loads its WebAssembly through Node's
 * fs) is used only by `mdc plan --auto` and by training's recompute planner, neither of
 * which the playground runs; vite.config.ts puts this loader in its place so the worker
 * bundle has no Node modules. Calling it says so instead of failing inside Emscripten.
 */
export default function highsLoader(): never {
  throw new Error('the playground does not include the HiGHS solver (mdc plan --auto, training recompute planning): use the mdc command line');
}
