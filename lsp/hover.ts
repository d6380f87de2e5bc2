/**
 * Hover: what a name is, its full type with layout (`f32[B@dp, S, d@tp]`), at concrete
 * dims its bytes per device, the FLOPs of the op that made it, and its doc comment.
 */
import type { Val } from '../compiler/elaborate.js';
import { OPS } from '../compiler/ops/registry.js';
import { concreteShape, printType, type TType } from '../compiler/types.js';
import { typeNodeText } from '../grammar/ast-text.js';
import type * as A from '../grammar/ast.js';
import type { Analysis } from './analysis.js';
import type { Occurrence, Seen } from './index.js';

const DTYPE_BYTES: Record<string, number> = { f32: 4, f16: 2, bf16: 2, i32: 4, bool: 4 };

/** Bytes of a tensor on one device: each split dim divided by the product of its axes' sizes (rounded up). */
export function bytesPerDevice(t: TType, axes: ReadonlyMap<string, number>): { device: number; total: number } | undefined {
  const shape = concreteShape(t);
  if (!shape) return undefined;
  let device = DTYPE_BYTES[t.dtype] ?? 4;
  let total = device;
  shape.forEach((n, i) => {
    const split = (t.layout?.axes[i] ?? []).reduce((p, a) => p * (axes.get(a) ?? 1), 1);
    device *= Math.ceil(n / split);
    total *= n;
  });
  return { device, total };
}

const count = (n: number) => n.toLocaleString('en-US');

export function describeVal(v: Val): string {
  switch (v.kind) {
    case 'tensor':
      return printType(v.v.type);
    case 'dim':
      return 'int';
    case 'num':
      return 'float';
    case 'bool':
      return 'bool';
    case 'str':
      return 'string';
    case 'list':
      return `list of ${v.items.length}`;
    case 'tuple':
      return `(${v.items.map(describeVal).join(', ')})`;
  }
}

function valueLines(seen: Seen, a: Analysis): string[] {
  const out: string[] = [];
  const c = seen.concrete;
  if (c?.kind === 'tensor') {
    const at = printType(c.v.type);
    if (at !== describeVal(seen.symbolic)) out.push(`at concrete dims: \`${at}\``);
    const b = bytesPerDevice(c.v.type, a.checked.env?.meshAxes ?? new Map());
    if (b) out.push(b.device === b.total ? `${count(b.total)} bytes` : `${count(b.device)} bytes per device (${count(b.total)} in all)`);
  }
  if (seen.flops !== undefined) out.push(`${count(seen.flops)} FLOPs`);
  return out;
}

function signatureOf(f: A.FunctionDecl): string {
  const ins = f.params.map((p) => `${p.name.name}: ${typeNodeText(p.type)}`).join(', ');
  const outs = f.returns.map(typeNodeText);
  return `${f.kind} ${f.name.name}(${ins}) -> ${outs.length === 1 ? outs[0] : `(${outs.join(', ')})`}`;
}

export function opSignature(name: string): string {
  const op = OPS.get(name);
  if (!op) return name;
  const args = op.args.map((s) => `${s.name}${s.default !== undefined ? ` = ${s.default === null ? 'none' : JSON.stringify(s.default)}` : ''}`);
  return `${name}(${args.join(', ')})`;
}

/** The hover's markdown for an occurrence, or undefined when there is nothing to say. */
export function hoverText(o: Occurrence, a: Analysis): string | undefined {
  const block = (s: string) => '```mdc\n' + s + '\n```';
  const parts: string[] = [];
  if (o.op) {
    parts.push(block(opSignature(o.op)));
    const seen = o.node && a.index.values.get(o.node);
    if (seen) parts.push([`\`${describeVal(seen.symbolic)}\``, ...valueLines(seen, a)].join(' · '));
    parts.push(OPS.get(o.op)?.doc ?? '');
    return parts.filter(Boolean).join('\n\n');
  }
  const d = o.decl;
  if (!d) return undefined;
  const fn = a.index.program.items.find((i): i is A.FunctionDecl => (i.kind === 'block' || i.kind === 'model') && i.name.span === d.span);
  const seen = a.index.valueOf(o);
  if (fn) parts.push(block(signatureOf(fn)));
  else if (d.kind === 'const') {
    const c = a.checked.env?.consts.get(d.name);
    parts.push(block(`const ${d.name}${c ? ` = ${String(c.value)}` : ''}`));
  } else if (d.kind === 'axis')
    parts.push(block(`mesh axis ${d.name}${a.checked.env?.meshAxes.has(d.name) ? `: ${a.checked.env.meshAxes.get(d.name)} devices` : ''}`));
  else if (seen) parts.push(block(`${d.kind} ${d.name}: ${describeVal(seen.symbolic)}`));
  else parts.push(block(`${d.kind} ${d.name}`));
  if (seen) {
    const lines = valueLines(seen, a);
    if (lines.length) parts.push(lines.join(' · '));
  }
  if (d.doc) parts.push(d.doc);
  return parts.join('\n\n');
}
