/**
 * Runs a plan on the page's WebGPU (`navigator.gpu`) with the runtime's PlanRunner, the
 * way `mdc run` does in Node: seeded random inputs (the same `randomInput` and seed), the
 * parameters initialised by the runner from the plan's seed, one forward pass. Each output
 * is summarised as `mdc run` prints it: type, sum, mean |x| and the first values.
 */
import { numel, PlanRunner, randomInput, type HostArray, type Plan } from '../../runtime/index.js';

export interface OutputRow {
  readonly name: string;
  readonly type: string;
  readonly shape: readonly number[];
  readonly sum: number;
  readonly meanAbs: number;
  readonly first: readonly number[];
  /** NaN and ±Infinity among the values. */
  readonly nonFinite: number;
}

export interface RunResult {
  readonly adapter: string;
  readonly outputs: readonly OutputRow[];
  readonly deviceBytes: number;
  readonly createMs: number;
  readonly runMs: number;
}

/** The adapter's description, as the runtime's Node helper words it. */
function describe(adapter: GPUAdapter): string {
  const i = adapter.info;
  return [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') || 'unknown adapter';
}

export async function runPlan(plan: Plan, seed: number): Promise<RunResult> {
  if (!('gpu' in navigator)) throw new Error('this browser has no WebGPU (navigator.gpu is undefined)');
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() found no adapter');
  // The largest buffers the adapter allows, as runtime/node.ts asks for them.
  const device = await adapter.requestDevice({
    requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
  });
  try {
    const inputs: Record<string, HostArray> = {};
    for (const io of plan.inputs) inputs[io.name] = randomInput(plan.buffers[io.buffer]!.type, numel(io.shape), seed, io.name, io.max);
    const c0 = performance.now();
    const runner = await PlanRunner.create(device, plan);
    const createMs = performance.now() - c0;
    try {
      const r0 = performance.now();
      const outs = await runner.run(inputs);
      const runMs = performance.now() - r0;
      const outputs = plan.outputs.map((o): OutputRow => {
        const data = outs[o.name]!.data;
        let sum = 0;
        let abs = 0;
        let nonFinite = 0;
        for (const x of data) {
          sum += x;
          abs += Math.abs(x);
          if (!Number.isFinite(x)) nonFinite++;
        }
        return {
          name: o.name,
          type: `${o.dtype}[${o.shape.join(', ')}]`,
          shape: o.shape,
          sum,
          meanAbs: abs / data.length,
          first: Array.from(data.slice(0, 4)),
          nonFinite,
        };
      });
      return { adapter: describe(adapter), outputs, deviceBytes: runner.allocatedBytes, createMs, runMs };
    } finally {
      runner.destroy();
    }
  } finally {
    device.destroy();
  }
}
