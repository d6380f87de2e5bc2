/**
 * `mdc plan FILE --auto --devices N --hardware NAME [--memory-cap SIZE]`: the whole-plan
 * search (driver/auto-plan.ts). Text: the explanation; JSON: the winner and runner-up.
 */
import type { Hardware } from '../../compiler/cost/hardware.js';
import type { Evaluated } from '../../compiler/cost/plan-search.js';
import { EXIT, frontendOptions, report, UsageError, type Io, type Values } from '../options.js';

const PLAN_OPTIONS_NOT_USED = ['mesh', 'bandwidth', 'time-limit', 'recompute', 'memory-budget', 'report'];

export async function planWholeAuto(
  file: string,
  source: string,
  v: Values,
  io: Io,
  hardware: Hardware | undefined,
  memoryCap: number | undefined,
): Promise<number> {
  const text = v['devices'] as string;
  const devices = Number(text);
  if (!Number.isInteger(devices) || devices < 1) throw new UsageError(`--devices must be a positive whole number of devices, got '${text}'`);
  if (!hardware) throw new UsageError('--devices predicts every candidate plan on a described cluster: give --hardware NAME (e.g. a100-80gb)');
  for (const k of PLAN_OPTIONS_NOT_USED)
    if (v[k] !== undefined)
      throw new UsageError(`--${k} does not apply with --devices: the search chooses the mesh, the recompute policy and the rest of the plan itself`);
  const { autoPlan, AutoPlanError } = await import('../../driver/auto-plan.js');
  const { mesh: _mesh, ...frontend } = frontendOptions(v);
  void _mesh;
  let r;
  try {
    r = autoPlan({ file, source, frontend, devices, hardware, ...(memoryCap !== undefined ? { memoryCap } : {}) });
  } catch (e) {
    // Plain words for a model the search cannot take or a memory no plan meets: a usage-level answer, not a crash.
    if (e instanceof AutoPlanError) {
      if (v['json']) io.out(JSON.stringify({ ok: false, error: { kind: 'auto-plan', message: e.message } }, null, 2));
      else io.err(`mdc: ${e.message}`);
      return EXIT.diagnostics;
    }
    throw e;
  }
  if ('diagnostics' in r) {
    report(r.diagnostics, source, !!v['json'], io, { file, ok: false });
    return EXIT.diagnostics;
  }
  if (v['json']) {
    const plan = (e: Evaluated | undefined) =>
      e && {
        mesh: { dp: e.dp, pp: e.pp, tp: e.tp },
        microBatchSize: e.microBatchSize,
        microbatches: e.microbatches,
        schedule: e.schedule,
        virtual: e.virtual,
        layersPerStage: e.stageLayers,
        zero: e.zero,
        recompute: e.recompute,
        predicted: {
          stepSeconds: e.stepSeconds,
          tflopsPerDevice: e.tflopsPerDevice,
          bubbleFraction: e.bubbleFraction,
          commSeconds: e.tensorCommSeconds + e.dataParallelSeconds,
          peakBytesPerDevice: Math.round(e.peakBytesPerDevice),
        },
      };
    io.out(
      JSON.stringify(
        {
          version: 1,
          file,
          devices,
          layers: r.layers,
          batch: r.batch,
          memoryCapBytes: r.result.memoryCap,
          ...(r.fineTuning ? { fineTuning: r.fineTuning } : {}),
          winner: plan(r.result.winner),
          runnerUp: plan(r.result.runnerUp) ?? null,
          explanation: r.lines,
          candidates: r.result.candidates,
          simulated: r.result.simulated,
          searchSeconds: r.seconds,
          diagnostics: [],
        },
        null,
        2,
      ),
    );
  } else for (const line of r.lines) io.out(line);
  return EXIT.ok;
}
