/**
 * Helpers of the torch export tests: the exported package's per-rank output files put back
 * together as whole tensors, and the oracle, mdc's float64 CPU reference (compiler/reference)
 * of the unpartitioned forward pass and training step, fed the same parameters and inputs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../driver/compile.js';
import { dimValue } from '../../compiler/dims.js';
import type { Graph } from '../../compiler/ir.js';
import { interpret } from '../../compiler/reference/interpret.js';
import { initValues, randomInput } from '../../runtime/init.js';
import { biasCorrections, lrAt } from '../../runtime/train.js';
import { decodeCheckpoint } from '../../runtime/checkpoint.js';
import { numel } from '../../layout/mesh.js';

const shape = (g: Graph, id: number) => g.values[id]!.type.dims.map((d) => dimValue(d)!);

interface RankFile {
  rank: number;
  tensors: Record<string, { global: number[]; start: number[]; shape: number[] }>;
  loss?: number[];
}

/** The whole tensors the ranks of a run wrote to `dir` (rank<R>.safetensors + .json), from their blocks; replicas must agree exactly. */
export function gather(dir: string, ranks: number): { tensors: Map<string, Float64Array>; losses?: number[] } {
  const out = new Map<string, Float64Array>();
  let losses: number[] | undefined;
  for (let r = 0; r < ranks; r++) {
    const info = JSON.parse(readFileSync(join(dir, `rank${r}.json`), 'utf8')) as RankFile;
    losses ??= info.loss;
    const file = decodeCheckpoint(new Uint8Array(readFileSync(join(dir, `rank${r}.safetensors`))));
    for (const [name, at] of Object.entries(info.tensors)) {
      const data = file.tensors[name]!.data;
      const whole = out.get(name) ?? new Float64Array(numel(at.global)).fill(NaN);
      out.set(name, whole);
      const gs = strides(at.global);
      const ls = strides(at.shape);
      for (let i = 0; i < data.length; i++) {
        let g = 0;
        for (let d = 0; d < at.shape.length; d++) g += ((Math.floor(i / ls[d]!) % at.shape[d]!) + at.start[d]!) * gs[d]!;
        const v = data[i]!;
        if (!Number.isNaN(whole[g]!) && whole[g] !== v) throw new Error(`rank ${r} holds ${name}[${g}] = ${v}, another rank ${whole[g]}`);
        whole[g] = v;
      }
    }
  }
  for (const [name, t] of out) if (t.some(Number.isNaN)) throw new Error(`no rank wrote all of ${name}`);
  return { tensors: out, ...(losses ? { losses } : {}) };
}

function strides(s: readonly number[]): number[] {
  const out = s.map(() => 1);
  for (let d = s.length - 2; d >= 0; d--) out[d] = out[d + 1]! * s[d + 1]!;
  return out;
}

/** Integer inputs' id ranges, as main.py's tables give them: embedding rows, the loss's vocabulary. */
function ranges(g: Graph): Map<number, number> {
  const out = new Map<number, number>();
  for (const n of g.nodes) {
    if (n.op === 'embedding') out.set(n.inputs[1]!, Math.min(out.get(n.inputs[1]!) ?? Infinity, shape(g, n.inputs[0]!)[0]!));
    if (n.op === 'cross_entropy') out.set(n.inputs[1]!, Math.min(out.get(n.inputs[1]!) ?? Infinity, shape(g, n.inputs[0]!).at(-1)!));
  }
  return out;
}

/** Inputs as main.py draws them without --inputs (randomInput over the whole batch of `count` micro-batches), micro-batch `m`'s rows. */
function drawInputs(g: Graph, seed: number, m: number, count: number, given?: Readonly<Record<string, Float64Array>>): Record<string, Float64Array> {
  const max = ranges(g);
  const out: Record<string, Float64Array> = {};
  for (const id of g.inputs) {
    const v = g.values[id]!;
    const s = shape(g, id);
    if (!s.length) continue;
    const n = numel(s);
    const all = given?.[v.name!] ?? randomInput(v.type.dtype === 'i32' ? 'i32' : 'f32', n * count, seed, v.name!, max.get(id));
    out[v.name!] = Float64Array.from(all.subarray(m * n, (m + 1) * n));
  }
  return out;
}

export interface Oracle {
  /** The forward pass's outputs by name. */
  forward: Record<string, Float64Array>;
  /** Parameters and optimizer state after the steps, by name. */
  params: Map<string, Float64Array>;
  /** Each step's loss (the mean over its micro-batches). */
  losses: number[];
}

/**
 * mdc's CPU reference (float64) of `file`'s forward pass and `steps` training steps, unpartitioned, from the seed;
 * `weights` replaces parameters' initial values, `inputs` the drawn inputs (each the whole step's batch, as main.py's --inputs).
 */
export async function referenceRun(
  file: string,
  opts: {
    preset?: string;
    seed: number;
    steps: number;
    weights?: ReadonlyMap<string, Float64Array>;
    inputs?: Readonly<Record<string, Float64Array>>;
    /** The learning rate of step t (default: mdc train's schedule over `steps`, runtime/train.ts lrAt, from the train section's rate and warm-up). */
    lr?: (t: number) => number;
  },
): Promise<Oracle> {
  const source = readFileSync(file, 'utf8');
  const front = { ...(opts.preset ? { preset: opts.preset } : {}) };
  const fwd = (await compile(source, file, { ...front, until: 'lower' })).forward!;
  const init = (g: Graph) => {
    const m = new Map<string, Float64Array>();
    for (const v of g.values)
      if (v.kind === 'param') m.set(v.name!, opts.weights?.get(v.name!) ?? Float64Array.from(initValues(v.init!, numel(shape(g, v.id)), opts.seed, v.name!)));
    return m;
  };
  const fp = init(fwd);
  const forwardOut = interpret(fwd, drawInputs(fwd, opts.seed, 0, 1, opts.inputs), (n) => fp.get(n)!);
  const forward = Object.fromEntries(Object.entries(forwardOut).map(([k, t]) => [k, t.data]));
  const c = await compile(source, file, { ...front, train: true, until: 'train' });
  const g = c.training!.graph;
  const s = c.settings!;
  const micro = s.microbatches ?? 1;
  const params = init(g);
  const losses: number[] = [];
  const f32 = (x: number) => Float64Array.of(Math.fround(x));
  const schedule = { lr: s.optimizer.lr, warmup: s.warmup ?? Math.min(10, Math.floor(opts.steps / 10)), steps: opts.steps };
  const lr = opts.lr ?? ((t: number) => lrAt(t, schedule));
  for (let t = 1; t <= opts.steps; t++) {
    let loss = 0;
    for (let m = 0; m < micro; m++) {
      const inputs: Record<string, Float64Array> = { ...drawInputs(g, opts.seed, m, micro, opts.inputs), lr: f32(lr(t)) };
      if (s.optimizer.kind === 'adamw') {
        const [bc1, bc2] = biasCorrections(t, s.optimizer.beta1, s.optimizer.beta2);
        inputs['bc1'] = f32(bc1);
        inputs['bc2'] = f32(bc2);
      }
      if (micro > 1) inputs['apply'] = Float64Array.of(m === micro - 1 ? 1 : 0);
      const out = interpret(g, inputs, (n) => params.get(n)!);
      for (const u of c.training!.updates) params.set(u.param, out[u.output]!.data);
      loss += out['loss']!.data[0]! / micro;
    }
    losses.push(loss);
  }
  return { forward, params, losses };
}
