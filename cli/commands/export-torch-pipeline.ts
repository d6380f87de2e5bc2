import { join } from 'node:path';
import { compile, type Compiled } from '../../driver/compile.js';
import type { PipelineAnnotation } from '../../compiler/annotations.js';
import type { Mesh } from '../../compiler/sharding/mesh.js';
import { exportTorchPipeline } from '../../compiler/torch/pipeline.js';
import { asUsageError, EXIT, report, type Io, type Values } from '../options.js';
import { writePackage } from './export-torch.js';

/**
 * `mdc export FILE --target torch` for a pipelined model on a mesh with its pipeline axis:
 * the forward pipeline (and, with a train section and without --forward, the pipelined
 * training step) compiled up to the cut (driver/pipeline.ts), written by
 * compiler/torch/pipeline.ts as DIR/main.py beside mdc_torch.py.
 */
export async function writeTorchPipeline(x: {
  file: string;
  source: string;
  out: string;
  v: Values;
  io: Io;
  seed: number;
  mesh: Mesh;
  ann: PipelineAnnotation;
  base: Parameters<typeof compile>[2];
  forward: Compiled;
}): Promise<number> {
  const { file, source, v, io } = x;
  const fail = (c: Compiled) => {
    report(c.diagnostics, source, !!v['json'], io, { file, ok: false });
    return EXIT.diagnostics;
  };
  if (x.forward.diagnostics.length || !x.forward.pipeline) return fail(x.forward);
  const model = x.forward.forward!.name;
  const trains = !v['forward'] && x.forward.checked!.env!.sections.some((s) => s.kind === 'train' && s.target.name === model);
  const step = trains ? await compile(source, file, { ...x.base, train: true }).catch(asUsageError) : undefined;
  if (step && (step.diagnostics.length || !step.pipeline)) return fail(step);
  const r = exportTorchPipeline({
    file,
    source,
    mesh: x.mesh,
    seed: x.seed,
    axis: x.ann.axis,
    stages: x.ann.stages,
    span: x.ann.span,
    forward: x.forward.pipeline,
    ...(step ? { train: { plan: step.pipeline!, settings: step.settings! } } : {}),
  });
  if (!r.main) {
    report(r.diagnostics, source, !!v['json'], io, { file, ok: false });
    return EXIT.diagnostics;
  }
  writePackage(x.out, r.main);
  const ranks = x.mesh.axes.reduce((n, a) => n * a.size, 1);
  const meshText = x.mesh.axes.map((a) => `${a.name}=${a.size}`).join(',');
  const what = `${x.ann.stages} pipeline stages over ${x.ann.axis}, ${step ? 'forward pass and training step' : 'forward pass'}`;
  if (v['json'])
    io.out(JSON.stringify({ file, ok: true, target: 'torch', out: x.out, mesh: meshText, ranks, train: !!step, pipeline: x.ann.stages, ops: r.ops }, null, 2));
  else
    io.out(
      `wrote ${join(x.out, 'main.py')} and mdc_torch.py: ${ranks} ranks over [${meshText}], ${what}; run: torchrun --nproc_per_node=${ranks} ${join(x.out, 'main.py')}`,
    );
  return EXIT.ok;
}
