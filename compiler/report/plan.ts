import type { Graph } from '../ir.js';
import { printType } from '../types.js';
import { localShape, numel } from '../../layout/mesh.js';
import { dtypeBytes, meshToString, shapeOf, type Mesh } from '../sharding/mesh.js';
import type { Collective, SpmdProgram } from '../sharding/partition.js';
import type { TrainingMemory } from '../train/memory.js';

/**
 * The stable JSON form of `mdc plan --json` (version 1). Field meanings:
 * - devices: number of devices in the mesh; mesh: axis name → size, in mesh order.
 * - values: the model's inputs, parameters and outputs with their global type and layout
 *   (`f32[768, 3072@tp]`) and the shape each device holds.
 * - collectives: every inserted communication or local re-slicing, in program order:
 *   kind (all_reduce | reduce_scatter | all_gather | all_to_all | shard_slice | partial_mask),
 *   axis, bytesPerDevice (bytes each device sends on ring algorithms), bytes and elements
 *   (of the block each device holds before the step), from/to layouts, reason, span
 *   (file, line, col, endLine, endCol of the source that caused it) and scope (block path).
 * - paramBytesPerDevice / paramBytes / paramCount: parameter storage per device and in all.
 * - commBytesPerDevice: the sum of bytesPerDevice over the collectives.
 */
export interface PlanReport {
  readonly version: 1;
  readonly file: string;
  readonly model: string;
  readonly devices: number;
  readonly mesh: Readonly<Record<string, number>>;
  readonly values: readonly ValueRow[];
  readonly collectives: readonly CollectiveRow[];
  readonly paramCount: number;
  readonly paramBytes: number;
  readonly paramBytesPerDevice: number;
  readonly commBytesPerDevice: number;
  readonly searchSeconds?: number;
  /** Training memory per device (bytes) and model FLOPs per step; see compiler/train/memory.ts. */
  readonly zero?: number;
  readonly recompute?: string;
  readonly memory?: { readonly params: number; readonly grads: number; readonly optimizer: number; readonly activations: number; readonly peak: number };
  readonly activationBytesPerLayer?: Readonly<Record<string, number>>;
  readonly flopsPerStep?: number;
}

export interface ValueRow {
  readonly kind: 'input' | 'param' | 'output';
  readonly name: string;
  readonly type: string;
  readonly localShape: readonly number[];
  readonly bytesPerDevice: number;
}

/** A collective as the report shows it: the partitioner's, with the file in its span. */
export interface CollectiveRow extends Omit<Collective, 'kind' | 'span'> {
  readonly kind: string;
  readonly span: { readonly file: string; readonly line: number; readonly col: number; readonly endLine: number; readonly endCol: number };
}

export interface PlanExtra {
  readonly searchSeconds?: number;
  readonly training?: TrainingMemory;
}

export function planReport(file: string, g: Graph, p: SpmdProgram, extra: PlanExtra = {}): PlanReport {
  const mesh = p.mesh;
  const row = (kind: ValueRow['kind'], name: string, id: number): ValueRow => {
    const t = p.globalTypes[id]!;
    const local = localShape(mesh, shapeOf(t), p.layouts[id]!);
    return {
      kind,
      name,
      type: printType({ ...t, layout: p.layouts[id]! }),
      localShape: local,
      bytesPerDevice: numel(local) * dtypeBytes(t.dtype),
    };
  };
  const values: ValueRow[] = [];
  for (const v of p.local.values) {
    if (v.kind === 'input') values.push(row('input', v.name!, v.id));
    else if (v.kind === 'param') values.push(row('param', v.name!, v.id));
  }
  p.local.outputs.forEach((o, i) => values.push(row('output', p.local.outputNames[i]!, o)));
  const collectives = p.collectives.map((c): CollectiveRow => ({
    ...c,
    span: { file, line: c.span.line, col: c.span.col, endLine: c.span.endLine, endCol: c.span.endCol },
  }));
  const paramCount = g.values.filter((v) => v.kind === 'param').reduce((n, v) => n + numel(shapeOf(v.type)), 0);
  return {
    version: 1,
    file,
    model: g.name,
    devices: p.devices,
    mesh: Object.fromEntries(mesh.axes.map((a) => [a.name, a.size])),
    values,
    collectives,
    paramCount,
    paramBytes: p.paramBytes,
    paramBytesPerDevice: p.paramBytesPerDevice,
    commBytesPerDevice: collectives.reduce((n, c) => n + c.bytesPerDevice, 0),
    ...(extra.searchSeconds !== undefined ? { searchSeconds: extra.searchSeconds } : {}),
    ...(extra.training
      ? {
          zero: extra.training.zero,
          recompute: extra.training.recompute,
          memory: extra.training.memory,
          activationBytesPerLayer: extra.training.activationBytesPerLayer,
          flopsPerStep: extra.training.flopsPerStep,
        }
      : {}),
  };
}

export function formatBytes(n: number): string {
  return n >= 2 ** 30
    ? `${(n / 2 ** 30).toFixed(2)} GiB`
    : n >= 2 ** 20
      ? `${(n / 2 ** 20).toFixed(2)} MiB`
      : n >= 1024
        ? `${(n / 1024).toFixed(1)} KiB`
        : `${n} B`;
}

/** The human-readable form of a plan report. */
export function formatPlanReport(r: PlanReport, mesh: Mesh): string[] {
  const lines: string[] = [];
  lines.push(`${r.model} on mesh ${meshToString(mesh)}: ${r.devices} device${r.devices === 1 ? '' : 's'}`);
  if (r.searchSeconds !== undefined) lines.push(`strategy search: ${r.searchSeconds.toFixed(3)} s`);
  lines.push(`parameters: ${r.paramCount.toLocaleString('en-US')} (${formatBytes(r.paramBytes)}), ${formatBytes(r.paramBytesPerDevice)} per device`);
  if (r.memory) {
    const m = r.memory;
    lines.push(
      `training memory per device (ZeRO ${r.zero}, recompute ${r.recompute}): params ${formatBytes(m.params)}, grads ` +
        `${formatBytes(m.grads)}, optimizer ${formatBytes(m.optimizer)}, activations ${formatBytes(m.activations)}; peak ${formatBytes(m.peak)}`,
    );
    lines.push(`model FLOPs per step: ${(r.flopsPerStep! / 1e9).toFixed(2)} GFLOP`);
  }
  lines.push('');
  lines.push('layouts (global type, block per device):');
  // A fold, not Math.max(...names): a spread of every value overflows the stack on deep models.
  const w = r.values.reduce((a, v) => Math.max(a, v.name.length), 4);
  for (const v of r.values) lines.push(`  ${v.kind.padEnd(6)} ${v.name.padEnd(w)}  ${v.type}  [${v.localShape.join(', ')}]`);
  lines.push('');
  const moved = r.collectives.filter((c) => c.bytesPerDevice > 0).length;
  lines.push(`collectives: ${r.collectives.length} (${moved} moving data), ${formatBytes(r.commBytesPerDevice)} sent per device`);
  for (const c of r.collectives) {
    lines.push(
      `  ${c.span.file}:${c.span.line}:${c.span.col}: ${c.kind}(${c.axis}) ${c.from} → ${c.to}, ${formatBytes(c.bytesPerDevice)} per device${c.scope ? ` [${c.scope}]` : ''}`,
    );
    lines.push(`      because ${c.reason}`);
  }
  return lines;
}
