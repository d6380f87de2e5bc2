/// <reference types="@webgpu/types" />
/**
 * Tuning a target for a device: each matmul shape class not yet in the cache is tuned
 * (codegen/tune/matmul.ts), and the row kernels' threshold once per adapter
 * (codegen/tune/rows.ts); the winners are written back, keyed by the adapter's
 * description. The result is a `KernelTarget` for codegen (driver/compile.ts `target`).
 */
import type { Graph } from '../../compiler/ir.js';
import type { KernelTarget } from '../kernels/kernel.js';
import { candidates, type MatmulConfig } from '../kernels/matmul/config.js';
import { batchCount, matmulShape, shapeClass, type MatmulShape } from '../kernels/matmul/shape.js';
import { defaultCacheFile, loadEntries, loadRowUnits, saveEntries, type CachedEntry } from './cache.js';
import { tuneMatmul, type TuneResult } from './matmul.js';
import { tuneRows, type RowTuneResult } from './rows.js';

export interface TuneOptions {
  /** The cache file (default: defaultCacheFile()). */
  readonly file?: string;
  /** Tune again even when the class is cached. */
  readonly force?: boolean;
  readonly log?: (line: string) => void;
  /**
   * Whether the graph has row kernels the threshold matters to (`usesRowKernels`): if
   * not, the row threshold is taken from the cache when it is there (and `force` is not
   * set) and otherwise left to its default, untimed. Default true.
   */
  readonly rows?: boolean;
}

export interface TunedTarget {
  readonly target: KernelTarget;
  /** Per shape class: the configuration used, and the tuning run when one happened now. */
  readonly classes: ReadonlyMap<string, { readonly config: MatmulConfig; readonly run?: TuneResult }>;
  /** The row-kernel threshold used (none: the default, untuned), and the tuning run when one happened now. */
  readonly rows: { readonly rowUnits?: number; readonly run?: RowTuneResult };
}

/**
 * The matmul shapes of the plan codegen makes of `graph` (the optimize stage's result:
 * written-out attention gone, transposes folded into b; or the graph as it is under
 * `--no-fuse`), one per shape class.
 */
export function matmulShapes(g: Graph): MatmulShape[] {
  const byClass = new Map<string, MatmulShape>();
  for (const n of g.nodes) {
    if (n.op !== 'matmul' && n.body?.kind !== 'matmul') continue;
    const { shape } = matmulShape(n, g);
    if (!byClass.has(shapeClass(shape))) byClass.set(shapeClass(shape), shape);
  }
  return [...byClass.values()];
}

/** Configurations are flat objects: equal when every field is, in any key order. */
const sameConfig = (a: MatmulConfig, b: unknown) => {
  const keys = Object.keys(a);
  return typeof b === 'object' && b !== null && Object.keys(b).length === keys.length && keys.every((k) => (a as never)[k] === (b as never)[k]);
};

/** `base` (the device's subgroup size) plus a tuning table covering `shapes`, from the cache or measured now. */
export async function tuneTarget(
  device: GPUDevice,
  adapter: string,
  base: KernelTarget,
  shapes: readonly MatmulShape[],
  opts: TuneOptions = {},
): Promise<TunedTarget> {
  const file = opts.file ?? defaultCacheFile();
  const cached = { ...loadEntries(adapter, file, opts.log) };
  // The cache only chooses among the configurations the tuner times for a shape, all of them correct.
  for (const s of shapes) {
    const cls = shapeClass(s);
    const hit = cached[cls];
    if (hit && !candidates(s, base).some((c) => sameConfig(c, hit.config))) {
      opts.log?.(`tuning cache ${file}: entry '${cls}' (${JSON.stringify(hit.config)}) is not a configuration mdc times for this shape; tuning it again`);
      delete cached[cls];
    }
  }
  const fresh: Record<string, CachedEntry> = {};
  const classes = new Map<string, { config: MatmulConfig; run?: TuneResult }>();
  const todo = new Set(shapes.map(shapeClass).filter((cls) => opts.force || !cached[cls]));
  let done = 0;
  for (const s of shapes) {
    const cls = shapeClass(s);
    if (classes.has(cls)) continue;
    const hit = cached[cls];
    if (hit && !opts.force) {
      classes.set(cls, { config: hit.config });
      continue;
    }
    opts.log?.(`tuning matmul class ${++done}/${todo.size}: ${cls}…`);
    const run = await tuneMatmul(device, s, base);
    opts.log?.(`tuned ${cls}: ${run.best.ms.toFixed(2)} ms (${run.best.gflops.toFixed(1)} GFLOP/s) of ${run.tried.length} configurations`);
    fresh[cls] = { config: run.best.config, ms: run.best.ms, shape: [s.M, s.N, s.K, batchCount(s)], tunedAt: new Date().toISOString() };
    // Saved as soon as it is timed: an interrupted tuning resumes from the next class.
    saveEntries(adapter, { [cls]: fresh[cls]! }, file);
    classes.set(cls, { config: run.best.config, run });
  }
  const cachedRows = opts.force ? undefined : loadRowUnits(adapter, file, opts.log);
  const rowRun = cachedRows === undefined && opts.rows !== false ? await tuneRows(device, base) : undefined;
  if (rowRun)
    opts.log?.(
      `tuned row kernels: rows shorter than ${rowRun.rowUnits} units take one invocation (${rowRun.tried.map((t) => `${t.rowUnits}: ${t.score.toFixed(2)}`).join(', ')})`,
    );
  const rowUnits = cachedRows ?? rowRun?.rowUnits;
  if (rowRun) saveEntries(adapter, {}, file, { rowUnits: rowRun.rowUnits, tunedAt: new Date().toISOString() });
  const entries = Object.fromEntries([...classes].map(([k, v]) => [k, v.config]));
  return {
    target: { ...base, tuning: { adapter, entries }, ...(rowUnits === undefined ? {} : { rowUnits }) },
    classes,
    rows: { ...(rowUnits === undefined ? {} : { rowUnits }), ...(rowRun ? { run: rowRun } : {}) },
  };
}
