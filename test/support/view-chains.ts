import fc from 'fast-check';

/**
 * Random programs in which an element-wise chain reads a transpose or a slice of an
 * input, for the view-fusion property tests: `y` (the source) goes through
 * transpose(y, perm) or slice(y, axis, start, end) to a value of shape `out`, which is
 * added to `x` (of shape `lead ++ out`, so the view may also broadcast over leading dims),
 * then relu and a scale. Optionally the view is also returned on its own, so that it
 * must stay a kernel of its own (a view is never written by a fused body).
 */
export interface ViewSpec {
  readonly source: readonly number[];
  readonly lead: readonly number[];
  readonly view:
    | { readonly kind: 'transpose'; readonly perm: readonly number[] }
    | { readonly kind: 'slice'; readonly axis: number; readonly start: number; readonly end: number };
  readonly alsoReturned: boolean;
  readonly int: boolean;
}

const dim = fc.constantFrom(1, 2, 3, 4, 5, 8, 12);

export const viewArb: fc.Arbitrary<ViewSpec> = fc
  .record({
    source: fc.array(dim, { minLength: 1, maxLength: 3 }),
    lead: fc.constantFrom([], [2]),
    pick: fc.nat(1000),
    kind: fc.boolean(),
    alsoReturned: fc.boolean(),
    int: fc.boolean(),
  })
  .map(({ source, lead, pick, kind, alsoReturned, int }) => {
    const r = source.length;
    if (kind) {
      // A permutation from the pick: Lehmer code digits.
      const rest = [...source.keys()];
      const perm: number[] = [];
      let p = pick;
      while (rest.length) {
        perm.push(rest.splice(p % rest.length, 1)[0]!);
        p = Math.floor(p / 7);
      }
      return { source, lead, view: { kind: 'transpose' as const, perm }, alsoReturned, int };
    }
    const axis = pick % r;
    const n = source[axis]!;
    const start = Math.floor(pick / 3) % n;
    const end = start + 1 + (Math.floor(pick / 17) % (n - start));
    return { source, lead, view: { kind: 'slice' as const, axis, start, end }, alsoReturned, int };
  });

export function viewShape(spec: ViewSpec): number[] {
  const v = spec.view;
  return v.kind === 'transpose' ? v.perm.map((p) => spec.source[p]!) : spec.source.map((d, i) => (i === v.axis ? v.end - v.start : d));
}

export function viewSource(spec: ViewSpec): string {
  const t = spec.int ? 'i32' : 'f32';
  const out = viewShape(spec);
  const T = (s: readonly number[]) => `${t}[${s.join(', ')}]`;
  const v = spec.view;
  const view = v.kind === 'transpose' ? `transpose(y, [${v.perm.join(', ')}])` : `slice(y, ${v.axis}, ${v.start}, ${v.end})`;
  const full = [...spec.lead, ...out];
  const body = spec.int ? `relu(x + w) * 3` : `relu(x + w) * 2.5`;
  return `model V(x: ${T(full)}, y: ${T(spec.source)}) -> ${spec.alsoReturned ? `(${T(full)}, ${T(out)})` : T(full)} {
  let w = ${view}
  return ${body}${spec.alsoReturned ? ', w' : ''}
}
`;
}
