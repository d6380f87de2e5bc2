import type { KernelTarget } from '../../codegen/kernels/kernel.js';
import { formatBytes } from '../../compiler/report/plan.js';
import { planTraffic } from '../../runtime/plan.js';
import { COMMON, compileFile, EXIT, formatCount, FRONTEND_HELP, intOption, UsageError, type Command } from '../options.js';
import { checkOutputDir, MANIFEST, writeOutput } from '../output.js';
import { numel } from '../../layout/mesh.js';

export const command: Command = {
  help: `Usage: mdc compile FILE [-o DIR] [options]

Writes to DIR (default: out):
  <Model>.plan.json   the versioned runtime plan (kernels, buffers, steps)
  kernels/*.wgsl      one file per distinct WGSL kernel
  <Model>.ts          the typed host module (TypeScript compiler API)
  <Model>.js          the same module as JavaScript (an ES module; the plan inlined)
  <Model>.d.ts        its declarations, with the model's shapes as types
  ${MANIFEST}   what mdc wrote there, per model, with each file's sha256

mdc replaces only files it wrote (and that were not edited since) and removes a model's
stale kernels; any other file in the way is an error, never overwritten. A new DIR
appears whole; in an existing one every file is staged before any is replaced.

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
    checkOutputDir(outDir);
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
    const { sizeDims } = await import('../../driver/shrink.js');
    // The record of the model's dims lets the module run at smaller batch and sequence sizes (docs/host-module.md).
    const host = emitHost(plan, planFile, undefined, sizeDims(r));
    const files = new Map<string, string>([[planFile, JSON.stringify(plan, null, 1) + '\n']]);
    for (const k of plan.kernels) files.set(`kernels/${k.file}`, k.wgsl);
    files.set(`${plan.model}.ts`, host.ts);
    files.set(`${plan.model}.js`, host.js);
    files.set(`${plan.model}.d.ts`, host.dts);
    const out = writeOutput(outDir, plan.model, files);
    for (const path of out.kept) io.err(`mdc: warning: kept '${path}': a kernel of an earlier compile that was edited since mdc wrote it`);
    const written = out.written;
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
