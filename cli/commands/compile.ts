import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { KernelTarget } from '../../codegen/kernels/kernel.js';
import { formatBytes } from '../../compiler/report/plan.js';
import { planTraffic } from '../../runtime/plan.js';
import { writeAtomic } from '../files.js';
import { COMMON, compileFile, EXIT, formatCount, FRONTEND_HELP, intOption, UsageError, type Command } from '../options.js';
import { numel } from '../../layout/mesh.js';

/** The names mdc gives kernel files (`k012_matmul.wgsl`): only these are replaced in DIR/kernels. */
const KERNEL_FILE = /^k\d{3,}_[A-Za-z0-9_]+\.wgsl$/;

export const command: Command = {
  help: `Usage: mdc compile FILE [-o DIR] [options]

Writes to DIR (default: out):
  <Model>.plan.json   the versioned runtime plan (kernels, buffers, steps)
  kernels/*.wgsl      one file per distinct WGSL kernel (kernel files of an earlier
                      compile are replaced; other files there are left alone)
  <Model>.ts          the typed host module (TypeScript compiler API)
  <Model>.d.ts        its declarations, with the model's shapes as types

The pipeline: parse → check → lower → optimize → memory plan → codegen.
Optimizing: element-wise chains (with broadcasting), matmul epilogues (bias, activation,
residual add), reductions over the last axis with the element-wise ops around them
(a layer norm or softmax written out is one kernel; reductions of one value share
one) and attention written out as softmax(q @ transpose(k) * c) @ v (the flash
kernel) each become one kernel. A transpose or slice that only an element-wise chain
reads is read in place by it, and so is a transpose of the last two dims that only
matmuls read as b. --no-fuse keeps one kernel per op. The summary line gives the
bytes bound to the plan's kernels in one run, each binding counted once per step.

Options:
  -o, --out DIR      output folder (default: out)
  --seed N           parameter initialisation seed recorded in the plan (default: 0)
  --no-fuse          one kernel per op: no fusion, attention rewrite, views or
                     transpose folding
  --verify           check every stage's invariants as it runs (types re-inferred from
                     the op table, fused bodies well-formed); a broken one is an
                     internal error naming the stage
  --subgroup-size N  compile for devices with the \`subgroups\` feature and subgroups of
                     exactly N lanes (a power of two, 4 to 128; llvmpipe: 8): subgroup
                     matmul, attention and reductions; the plan then lists the feature
                     and the runtime refuses it elsewhere. Default: portable kernels
${FRONTEND_HELP}`,
  options: {
    ...COMMON,
    out: { type: 'string', short: 'o' },
    seed: { type: 'string' },
    'no-fuse': { type: 'boolean' },
    verify: { type: 'boolean' },
    'subgroup-size': { type: 'string' },
  },
  async run(file, source, v, io) {
    const outDir = (v['out'] as string | undefined) ?? 'out';
    if (!outDir.trim()) throw new UsageError('-o needs a folder name, e.g. -o out');
    const r = await compileFile(file, source, v, io, {
      seed: intOption(v['seed'], 'seed'),
      fuse: !v['no-fuse'],
      target: subgroupTarget(v['subgroup-size']),
      verify: !!v['verify'],
    });
    if (!r) return EXIT.diagnostics;
    const plan = r.plan!;
    const planFile = `${plan.model}.plan.json`;
    // The TypeScript compiler is large: load it only when a host module is emitted.
    const { emitHost } = await import('../../codegen/host.js');
    const host = emitHost(plan, planFile);
    const kernels = join(outDir, 'kernels');
    mkdirSync(kernels, { recursive: true });
    const written: string[] = [];
    const put = (rel: string, data: string) => {
      writeAtomic(join(outDir, rel), data);
      written.push(join(outDir, rel));
    };
    // Stale kernels of an earlier compile would mislead; files mdc did not name are not ours to delete.
    const fresh = new Set(plan.kernels.map((k) => k.file));
    for (const name of readdirSync(kernels)) if (KERNEL_FILE.test(name) && !fresh.has(name)) rmSync(join(kernels, name));
    put(planFile, JSON.stringify(plan, null, 1) + '\n');
    for (const k of plan.kernels) put(join('kernels', k.file), k.wgsl);
    put(`${plan.model}.ts`, host.ts);
    put(`${plan.model}.d.ts`, host.dts);
    const params = plan.buffers.filter((b) => b.role === 'param').reduce((a, b) => a + numel(b.shape), 0);
    const traffic = planTraffic(plan);
    const memory = r.memory!;
    if (v['json']) {
      io.out(
        JSON.stringify(
          {
            file,
            ok: true,
            model: plan.model,
            kernels: plan.kernels.length,
            steps: plan.steps.length,
            bytesBound: traffic.bytes,
            params,
            memory: { peakBytes: memory.peakBytes, lowerBound: memory.lowerBound, arenas: memory.arenas.length },
            verified: !!v['verify'],
            files: written,
            diagnostics: [],
          },
          null,
          2,
        ),
      );
    } else {
      io.out(
        `compiled ${plan.model}: ${plan.kernels.length} kernels, ${plan.steps.length} steps binding ${formatBytes(traffic.bytes)} per run, ${formatCount(params)} parameters → ${outDir}/`,
      );
      io.out(
        `  memory plan: activations in ${memory.arenas.length} arena${memory.arenas.length === 1 ? '' : 's'} of ` +
          `${formatBytes(memory.peakBytes)} (lower bound ${formatBytes(memory.lowerBound)})${v['verify'] ? '; every stage verified' : ''}`,
      );
    }
    return EXIT.ok;
  },
};

function subgroupTarget(x: unknown): KernelTarget {
  if (x === undefined) return {};
  const n = Number(x);
  if (!Number.isInteger(n) || n < 4 || n > 128 || (n & (n - 1)) !== 0)
    throw new UsageError(`--subgroup-size must be a power of two from 4 to 128, got '${String(x)}'`);
  return { subgroupSize: n };
}
