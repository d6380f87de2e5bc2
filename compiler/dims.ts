/**
 * Symbolic dimension sizes: integer polynomials over free size symbols (B, S, ...).
 * Config constants are already numbers here; only truly free names stay symbolic.
 * Two dims are equal exactly when their canonical forms are equal.
 */
export interface Dim {
  /** monomial key (symbols joined by '*', sorted; '' for the constant term) → coefficient; no zero coefficients. */
  readonly terms: ReadonlyMap<string, number>;
}

const mk = (entries: Iterable<[string, number]>): Dim => {
  const m = new Map<string, number>();
  for (const [k, v] of entries) {
    const nv = (m.get(k) ?? 0) + v;
    if (nv === 0) m.delete(k);
    else m.set(k, nv);
  }
  return { terms: new Map([...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
};

export const dimConst = (n: number): Dim => mk([['', n]]);
export const dimSym = (name: string): Dim => mk([[name, 1]]);
export const dimAdd = (a: Dim, b: Dim): Dim => mk([...a.terms, ...b.terms]);
export const dimNeg = (a: Dim): Dim => mk([...a.terms].map(([k, v]) => [k, -v]));
export const dimSub = (a: Dim, b: Dim): Dim => dimAdd(a, dimNeg(b));

export function dimMul(a: Dim, b: Dim): Dim {
  const out: [string, number][] = [];
  for (const [ka, va] of a.terms) {
    for (const [kb, vb] of b.terms) {
      const syms = [...(ka ? ka.split('*') : []), ...(kb ? kb.split('*') : [])].sort();
      out.push([syms.join('*'), va * vb]);
    }
  }
  return mk(out);
}

/** Exact division, or undefined when the quotient is not an integer polynomial. */
export function dimDiv(a: Dim, b: Dim): Dim | undefined {
  const bc = dimValue(b);
  if (bc !== undefined) {
    if (bc === 0) return undefined;
    const out: [string, number][] = [];
    for (const [k, v] of a.terms) {
      if (v % bc !== 0) return undefined;
      out.push([k, v / bc]);
    }
    return mk(out);
  }
  // Symbolic divisor: only a monomial divisor that divides every term.
  if (b.terms.size !== 1) return dimEquals(a, b) ? dimConst(1) : undefined;
  const [[kb, vb]] = [...b.terms];
  const bsyms = kb!.split('*');
  const out: [string, number][] = [];
  for (const [k, v] of a.terms) {
    const syms = k ? k.split('*') : [];
    for (const s of bsyms) {
      const i = syms.indexOf(s);
      if (i < 0) return undefined;
      syms.splice(i, 1);
    }
    if (v % vb! !== 0) return undefined;
    out.push([syms.join('*'), v / vb!]);
  }
  return mk(out);
}

/** An opaque atom for a quotient that does not simplify, such as S/3 under a symbolic S. */
export const dimOpaque = (text: string): Dim => dimSym(`(${text})`);

export function dimValue(d: Dim): number | undefined {
  if (d.terms.size === 0) return 0;
  if (d.terms.size === 1 && d.terms.has('')) return d.terms.get('')!;
  return undefined;
}

export function dimEquals(a: Dim, b: Dim): boolean {
  if (a.terms.size !== b.terms.size) return false;
  for (const [k, v] of a.terms) if (b.terms.get(k) !== v) return false;
  return true;
}

export function dimSymbols(d: Dim): string[] {
  const s = new Set<string>();
  for (const k of d.terms.keys()) if (k) for (const x of k.split('*')) s.add(x);
  return [...s];
}

export function dimToString(d: Dim): string {
  if (d.terms.size === 0) return '0';
  const parts: string[] = [];
  // Highest-degree terms first reads naturally: 3*B*S + 1.
  const entries = [...d.terms].sort(([a], [b]) => b.split('*').length - a.split('*').length || (a < b ? -1 : a > b ? 1 : 0));
  entries.sort(([a], [b]) => (a === '' ? 1 : 0) - (b === '' ? 1 : 0));
  for (const [k, v] of entries) {
    const body = k === '' ? String(Math.abs(v)) : Math.abs(v) === 1 ? k : `${Math.abs(v)}*${k}`;
    if (parts.length === 0) parts.push(v < 0 ? `-${body}` : body);
    else parts.push(v < 0 ? `- ${body}` : `+ ${body}`);
  }
  return parts.join(' ');
}

/** Replace symbols with values; symbols without a binding stay symbolic. */
export function dimSubstitute(d: Dim, env: ReadonlyMap<string, Dim>): Dim {
  let acc = dimConst(0);
  for (const [k, v] of d.terms) {
    let term = dimConst(v);
    if (k) for (const s of k.split('*')) term = dimMul(term, env.get(s) ?? dimSym(s));
    acc = dimAdd(acc, term);
  }
  return acc;
}
