import type { Diagnostic } from '../../diagnostics/messages.js';
import type { Graph } from '../ir.js';
import { isFloat } from '../types.js';
import { frozenParams } from './freeze.js';
import { applyLora } from './lora.js';
import type { TrainSettings } from './settings.js';

/** A fine-tuning step's forward graph (with its `@lora` adapters) and the parameters it leaves untrained. */
export interface FineTuning {
  readonly graph: Graph;
  /** Absent when every parameter trains. */
  readonly frozen?: Set<string>;
}

/**
 * The graph a training step is planned on, as train/step.ts builds it: with the train
 * section's `@lora` adapters added, and the parameters `freeze`, `train_also` and the
 * adapters leave untrained (they hold no gradient or optimizer state); or the diagnostics
 * the step would give (MDC0530, MDC0531, MDC0533). `mdc plan` and the whole-plan search
 * (driver/auto-plan.ts) both call this, so the two count the same parameters as frozen.
 *
 * `expand`: when `g` is a one-layer copy standing for a whole layer stack, the names a
 * parameter of the copy has in the full model (`Layer.0.w` → `Layer.0.w` … `Layer.23.w`);
 * the patterns are then matched against the full model's names, so `Layer.3.*` freezes the
 * fourth layer rather than being refused, and `frozen` holds full-model names.
 */
export function fineTuning(
  g: Graph,
  settings: TrainSettings | undefined,
  file: string,
  expand?: (name: string) => readonly string[],
): FineTuning | { diagnostics: Diagnostic[] } {
  if (!settings || (!settings.lora?.length && !settings.freeze?.length)) return { graph: g };
  const adapted = settings.lora?.length ? applyLora(g, settings.lora, file) : { graph: g, adapters: new Set<string>(), diagnostics: [] };
  if (!adapted.graph) return { diagnostics: adapted.diagnostics };
  const names = expand && adapted.graph.values.filter((v) => v.kind === 'param' && isFloat(v.type.dtype)).flatMap((v) => expand(v.name!));
  const adapters = expand ? new Set([...adapted.adapters].flatMap(expand)) : adapted.adapters;
  const fz = frozenParams(adapted.graph, settings.freeze ?? [], settings.trainAlso ?? [], adapters, file, names);
  if (fz.diagnostics.length) return { diagnostics: fz.diagnostics };
  return fz.frozen.size ? { graph: adapted.graph, frozen: fz.frozen } : { graph: adapted.graph };
}
