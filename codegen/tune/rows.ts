/// <reference types="@webgpu/types" />
/**
 * Choosing how row kernels (rows.ts) spread a row for a device: below what row length a
 * row takes one invocation instead of a workgroup. Each candidate threshold is timed on a
 * layer norm over short, transformer-width and long rows, and the one with the smallest
 * total of (time / the best time on that shape) wins, ties to the smaller threshold.
 */
import { dimConst } from '../../compiler/dims.js';
import { GraphBuilder, type Graph, type Node } from '../../compiler/ir.js';
import { NO_SPAN } from '../../diagnostics/span.js';
import type { KernelTarget } from '../kernels/kernel.js';
import { rowNormKernel } from '../kernels/rows.js';
import { bindGroupOf, dispatchTimer, interleave, patternFill, pipelineOf, storageBuffer, type Timer, type TimingOptions } from './time.js';

/** Rows × length of the layer norms timed. */
const SHAPES: readonly (readonly [number, number])[] = [
  [2048, 64],
  [512, 768],
  [64, 4096],
];
/** Thresholds in units (four elements where the row allows): 16 is the default; 4096 puts every row here on one invocation. */
export const ROW_UNIT_CANDIDATES: readonly number[] = [16, 64, 256, 4096];

export interface RowTuneResult {
  readonly rowUnits: number;
  /** Per candidate: median ms per shape (in SHAPES order) and its score. */
  readonly tried: readonly { readonly rowUnits: number; readonly ms: readonly number[]; readonly score: number }[];
}

function layerNorm(rows: number, len: number): { g: Graph; node: Node } {
  const b = new GraphBuilder();
  const type = (dims: number[]) => ({ dtype: 'f32' as const, dims: dims.map(dimConst) });
  const x = b.addValue({ type: type([rows, len]), kind: 'input', name: 'x' });
  const w = b.addValue({ type: type([len]), kind: 'input', name: 'w' });
  const bias = b.addValue({ type: type([len]), kind: 'input', name: 'b' });
  const [out] = b.addNode('layer_norm', [x, w, bias], [type([rows, len])], { eps: 1e-5, has_weight: true, has_bias: true }, NO_SPAN, '');
  const g = b.finish('rows', [out!], ['out']);
  return { g, node: g.nodes[0]! };
}

export async function tuneRows(device: GPUDevice, target: KernelTarget, opts: TimingOptions = {}): Promise<RowTuneResult> {
  const times: number[][] = ROW_UNIT_CANDIDATES.map(() => []);
  for (const [rows, len] of SHAPES) {
    const { g, node } = layerNorm(rows, len);
    const buffers = [
      storageBuffer(device, patternFill(rows * len)),
      storageBuffer(device, patternFill(len)),
      storageBuffer(device, patternFill(len)),
      storageBuffer(device, rows * len),
    ];
    try {
      const timers: Timer[] = [];
      for (const rowUnits of ROW_UNIT_CANDIDATES) {
        const k = rowNormKernel(node, g, { ...target, rowUnits });
        const pipeline = await pipelineOf(device, k.wgsl, `${k.name} rowUnits ${rowUnits}`);
        timers.push(
          await dispatchTimer(device, [{ pipeline, bindGroup: bindGroupOf(device, pipeline, buffers), dispatch: k.dispatch }], {
            reps: 'auto',
            targetMs: 20,
            ...opts,
          }),
        );
      }
      const medians = await interleave(timers, opts.runs ?? 5);
      medians.forEach((ms, i) => times[i]!.push(ms));
    } finally {
      for (const buf of buffers) buf.destroy();
    }
  }
  const best = SHAPES.map((_, s) => Math.min(...times.map((t) => t[s]!)));
  const tried = ROW_UNIT_CANDIDATES.map((rowUnits, i) => ({ rowUnits, ms: times[i]!, score: times[i]!.reduce((a, ms, s) => a + ms / best[s]!, 0) }));
  const winner = tried.reduce((a, b) => (b.score < a.score ? b : a));
  return { rowUnits: winner.rowUnits, tried };
}
