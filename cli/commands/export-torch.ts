import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from '../../driver/compile.js';
import { meshOfEnv } from '../../compiler/sharding/mesh.js';
import { exportTorch } from '../../compiler/torch/export.js';
import { pipelineAnnotation } from '../../compiler/annotations.js';
import { writeTorchPipeline } from './export-torch-pipeline.js';
import { writeAtomic } from '../files.js';
import { asUsageError, compileFile, EXIT, frontendOptions, intOption, meshOption, report, UsageError, type Io, type Values } from '../options.js';

/**
 * `mdc export FILE --target torch -o DIR`: the partitioned forward pass (and, with a train
 * section, the partitioned training step; not with --forward) as DIR/main.py, beside a copy
 * of the support library runtime/torch/mdc_torch.py. The mesh is --mesh, else the file's.
 */
export async function writeTorch(file: string, source: string, out: string, v: Values, io: Io): Promise<number> {
  if (v['weights'] !== undefined || v['weights-map'] !== undefined)
    throw new UsageError('--weights is an option of the exported main.py for --target torch: run it with --weights FILE.safetensors');
  if (statSync(out, { throwIfNoEntry: false })?.isFile()) throw new UsageError(`-o ${out} is a file; --target torch writes a folder`);
  const seed = intOption(v['seed'], 'seed');
  const checked = await compileFile(file, source, v, io, { until: 'lower' });
  if (!checked) return EXIT.diagnostics;
  const mesh = meshOption(v) ?? meshOfEnv(checked.checked.env!);
  if (!mesh.axes.length) throw new UsageError(`${file} declares no mesh: give one with --mesh, e.g. --mesh dp=2,tp=4`);
  const model = checked.checked.env!.models.get(checked.forward!.name)!;
  const ann = pipelineAnnotation(checked.checked.env!, model);
  const base = { ...frontendOptions(v), partition: mesh, seed, until: 'partition' as const };
  const forward = await compile(source, file, base).catch(asUsageError);
  if (forward.pipeline && ann) return writeTorchPipeline({ file, source, out, v, io, seed, mesh, ann, base, forward });
  if (forward.diagnostics.length) {
    report(forward.diagnostics, source, !!v['json'], io, { file, ok: false });
    return EXIT.diagnostics;
  }
  const trains = !v['forward'] && checked.checked.env!.sections.some((s) => s.kind === 'train' && s.target.name === model.name.name);
  const step = trains ? await compile(source, file, { ...base, train: true }).catch(asUsageError) : undefined;
  if (step?.diagnostics.length) {
    report(step.diagnostics, source, !!v['json'], io, { file, ok: false });
    return EXIT.diagnostics;
  }
  const r = exportTorch({
    file,
    source,
    mesh,
    seed,
    forward: forward.spmd!,
    ...(step
      ? {
          train: {
            spmd: step.spmd!,
            forwardNodes: step.training!.forwardNodes,
            updates: step.training!.updates,
            params: step.training!.params,
            settings: step.settings!,
          },
        }
      : {}),
  });
  if (!r.main) {
    report(r.diagnostics, source, !!v['json'], io, { file, ok: false });
    return EXIT.diagnostics;
  }
  writePackage(out, r.main);
  const ranks = mesh.axes.reduce((n, a) => n * a.size, 1);
  const meshText = mesh.axes.map((a) => `${a.name}=${a.size}`).join(',');
  if (v['json']) io.out(JSON.stringify({ file, ok: true, target: 'torch', out, mesh: meshText, ranks, train: !!step, ops: r.ops }, null, 2));
  else
    io.out(
      `wrote ${join(out, 'main.py')} and mdc_torch.py: ${ranks} ranks over [${meshText}], ` +
        `${step ? 'forward pass and training step' : 'forward pass'}; run: torchrun --nproc_per_node=${ranks} ${join(out, 'main.py')}`,
    );
  return EXIT.ok;
}

/** DIR/main.py and DIR/mdc_torch.py, a copy of the support library. */
export function writePackage(out: string, main: string): void {
  mkdirSync(out, { recursive: true });
  writeAtomic(join(out, 'main.py'), main);
  copyFileSync(supportLibrary(), join(out, 'mdc_torch.py'));
}

/** runtime/torch/mdc_torch.py of this package: found from the package root (the folder of package.json above this module), so it works from dist too. */
function supportLibrary(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'mdc') return join(dir, 'runtime', 'torch', 'mdc_torch.py');
    if (dirname(dir) === dir) throw new Error('mdc export: the package root (package.json of mdc) is not above this module');
  }
}
