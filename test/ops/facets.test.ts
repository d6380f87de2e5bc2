/**
 * Every op declares everything mdc knows about it in one place (compiler/ops/op.ts): this
 * test fails when an op of either registry lacks a facet, when a kernel kind codegen
 * has a generator for names no op, and when a table derived from the registry disagrees
 * with the facets it is derived from.
 */
import { describe, expect, it } from 'vitest';
import { KERNEL_KINDS, KERNELS } from '../../codegen/kernels/index.js';
import { FUSIBLE_ELEMENTWISE } from '../../compiler/fusion/fuse.js';
import type { OpFacets } from '../../compiler/ops/op.js';
import { INTERNAL_OPS, OPS } from '../../compiler/ops/registry.js';
import { COLLECTIVE_OPS } from '../../runtime/plan.js';

const KINDS_WITHOUT_KERNEL = ['alias', 'collective'];

/** What op `d` lacks: each facet it must state, by name. */
function missing(d: OpFacets): string[] {
  const out: string[] = [];
  if (!d.doc) out.push('doc');
  if (!['injective', 'reduction', 'out-fusable', 'opaque'].includes(d.cls)) out.push('cls');
  if (typeof d.grad !== 'function' && d.grad !== 'none') out.push("grad (a rule, or 'none')");
  if (typeof d.sharding !== 'function') out.push('sharding');
  if (!(d.kernel in KERNEL_KINDS) && !KINDS_WITHOUT_KERNEL.includes(d.kernel)) out.push(`kernel (no generator for kind '${String(d.kernel)}')`);
  if (d.across) {
    if (typeof d.across !== 'function') out.push("across (a collective's reference)");
    if (typeof d.flops !== 'function') out.push('flops');
  } else if (d.elementwise) {
    if (typeof d.elementwise.body !== 'function') out.push('elementwise.body');
    // A body that does not apply to every node needs a reference for the others.
    if (d.elementwise.when && typeof d.reference !== 'function') out.push('reference (where the body does not apply)');
  } else {
    if (typeof d.reference !== 'function') out.push('reference');
    if (typeof d.flops !== 'function') out.push('flops');
  }
  return out;
}

describe('every op states every facet', () => {
  it('surface ops: signature, shape rule, reference, gradient, sharding, FLOPs, kernel', () => {
    const problems: string[] = [];
    for (const [name, d] of OPS) {
      if (typeof d.infer !== 'function' || !Array.isArray(d.args)) problems.push(`${name}: signature`);
      if ('lowersTo' in d) {
        const to = OPS.get(d.lowersTo as string) ?? INTERNAL_OPS.get(d.lowersTo as string);
        if (!to || 'lowersTo' in to) problems.push(`${name}: lowers to '${String(d.lowersTo)}', which is no op with facets`);
        if (typeof d.lower !== 'function') problems.push(`${name}: lower (the nodes it becomes)`);
        continue;
      }
      if (!('kernel' in d)) {
        problems.push(`${name}: no facets at all`);
        continue;
      }
      problems.push(...missing(d).map((f) => `${name}: ${f}`));
    }
    expect(problems).toEqual([]);
  });

  it('internal ops (backward-only, mixed precision, collectives): the same facets', () => {
    const problems = [...INTERNAL_OPS].flatMap(([name, d]) => missing(d).map((f) => `${name}: ${f}`));
    expect(problems).toEqual([]);
    expect([...INTERNAL_OPS.keys()].filter((n) => OPS.has(n))).toEqual([]);
  });

  it('every kernel kind codegen generates is one some op names', () => {
    const named = new Set([...OPS.values(), ...INTERNAL_OPS.values()].flatMap((d) => ('kernel' in d ? [d.kernel] : [])));
    expect(Object.keys(KERNEL_KINDS).filter((k) => !named.has(k as never))).toEqual([]);
  });
});

describe('tables derived from the facets', () => {
  it('fusion fuses exactly the injective ops with an element-wise body', () => {
    const withBody = [...OPS.values()].flatMap((d) => ('elementwise' in d && d.elementwise && d.cls === 'injective' ? [d.name] : []));
    expect([...FUSIBLE_ELEMENTWISE].sort()).toEqual(withBody.sort());
  });

  it("the collectives are the runtime's collective steps", () => {
    const collectives = [...INTERNAL_OPS.values()].filter((d) => d.kernel === 'collective').map((d) => d.name);
    expect(collectives.sort()).toEqual([...COLLECTIVE_OPS].sort());
  });

  it('every op with a kernel kind has a generator in KERNELS', () => {
    const want = [...OPS.values(), ...INTERNAL_OPS.values()].flatMap((d) => ('kernel' in d && !KINDS_WITHOUT_KERNEL.includes(d.kernel) ? [d.name] : []));
    expect(want.filter((op) => !KERNELS.has(op))).toEqual([]);
  });
});
