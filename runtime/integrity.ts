/**
 * A plan's integrity: mdc seals every plan it writes with the SHA-256 of its contents
 * (`integrity: "sha256-<hex>"`, over the plan's JSON without that field, keys in their
 * written order). The runtime recomputes it before anything else, so a plan that was
 * damaged on disk or edited after mdc wrote it is refused instead of computing something
 * else silently: validation can check that a plan is well formed, not that a kernel binds
 * the buffer the compiler meant. Someone who edits a plan on purpose says so
 * (`{ edited: true }`), and the plan is then validated as any hand-written one.
 *
 * The digest is WebCrypto's (`crypto.subtle`, in browsers and in Node), so the runtime
 * needs no package; the compiler seals with a synchronous SHA-256 of the same bytes.
 */
import type { Plan } from './plan.js';
import { PlanError, validatePlan } from './validate.js';

export const INTEGRITY = /^sha256-[0-9a-f]{64}$/;

/** The text a plan's digest is taken over: its JSON without the `integrity` field. */
export function sealedText(plan: object): string {
  const { integrity: _, ...rest } = plan as { integrity?: unknown };
  return JSON.stringify(rest);
}

const hex = (bytes: ArrayBuffer) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');

/** Refuses (PlanError) a plan whose `integrity` is missing or does not match its contents, unless `edited`. */
export async function checkIntegrity(plan: object, edited = false): Promise<void> {
  if (edited) return;
  const claimed = (plan as { integrity?: unknown }).integrity;
  if (claimed === undefined)
    throw new PlanError(['integrity: the plan is not sealed by mdc (no "integrity" field); recompile it, or pass { edited: true } to run a hand-written plan']);
  if (typeof claimed !== 'string' || !INTEGRITY.test(claimed))
    throw new PlanError([`integrity must be "sha256-" and 64 hex digits, got ${JSON.stringify(claimed).slice(0, 80)}`]);
  const digest = `sha256-${hex(await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(sealedText(plan))))}`;
  if (digest !== claimed)
    throw new PlanError([
      'integrity: the plan was changed after mdc wrote it (its SHA-256 does not match); recompile it, or pass { edited: true } if the edit was deliberate',
    ]);
}

/** What the runners load: the plan's seal checked (unless `edited`), then the plan validated field by field. */
export async function loadPlan(raw: unknown, edited = false): Promise<Plan> {
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) await checkIntegrity(raw, edited);
  return validatePlan(raw);
}
