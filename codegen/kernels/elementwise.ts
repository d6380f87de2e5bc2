import type { Graph, Node } from '../../compiler/ir.js';
import { broadcastOffset, f32, kernel, shapeOf, storageOf, type KernelSpec } from './kernel.js';

/** erf by Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7): WGSL has no erf builtin. */
const ERF = `fn erf_approx(x: f32) -> f32 {
  let s = sign(x);
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return s * y;
}`;
/** tanh via exp with clamping: large |x| must not overflow to NaN. */
const TANH = `fn tanh_safe(x: f32) -> f32 {
  let c = clamp(x, -15.0, 15.0);
  let e = exp(2.0 * c);
  return (e - 1.0) / (e + 1.0);
}`;
/** Counter-based hash for dropout masks; the CPU reference uses the same function. */
const HASH = `fn hash_u32(x: u32) -> u32 {
  var h = x;
  h = h ^ (h >> 16u);
  h = h * 0x7feb352du;
  h = h ^ (h >> 15u);
  h = h * 0x846ca68bu;
  h = h ^ (h >> 16u);
  return h;
}`;

function unaryExpr(node: Node, isInt: boolean): { expr: string; helpers: string[] } {
  const a = 'a';
  switch (node.op) {
    case 'neg': return { expr: `-${a}`, helpers: [] };
    case 'expand': return { expr: a, helpers: [] };
    case 'abs': return { expr: `abs(${a})`, helpers: [] };
    case 'relu': return { expr: isInt ? `max(${a}, 0)` : `max(${a}, 0.0)`, helpers: [] };
    case 'exp': return { expr: `exp(${a})`, helpers: [] };
    case 'log': return { expr: `log(${a})`, helpers: [] };
    case 'sqrt': return { expr: `sqrt(${a})`, helpers: [] };
    case 'rsqrt': return { expr: `inverseSqrt(${a})`, helpers: [] };
    case 'tanh': return { expr: `tanh_safe(${a})`, helpers: [TANH] };
    case 'sigmoid': return { expr: `1.0 / (1.0 + exp(-${a}))`, helpers: [] };
    case 'silu': return { expr: `${a} / (1.0 + exp(-${a}))`, helpers: [] };
    case 'fast_gelu': return { expr: `0.5 * ${a} * (1.0 + tanh_safe(0.7978845608 * (${a} + 0.044715 * ${a} * ${a} * ${a})))`, helpers: [TANH] };
    case 'gelu':
      return node.attrs['approximate'] === 'tanh'
        ? { expr: `0.5 * ${a} * (1.0 + tanh_safe(0.7978845608 * (${a} + 0.044715 * ${a} * ${a} * ${a})))`, helpers: [TANH] }
        : { expr: `0.5 * ${a} * (1.0 + erf_approx(${a} * 0.7071067812))`, helpers: [ERF] };
    default: throw new Error(`no unary kernel for ${node.op}`);
  }
}

function binaryExpr(op: string, isInt: boolean): string {
  switch (op) {
    case 'add': return 'a + b';
    case 'sub': return 'a - b';
    case 'mul': return 'a * b';
    case 'div': return isInt ? 'select(a / b, 0, b == 0)' : 'a / b';
    case 'maximum': return 'max(a, b)';
    case 'minimum': return 'min(a, b)';
    // WGSL pow is undefined for negative bases; integral exponents keep their sign rule.
    case 'pow': return isInt ? 'i32(round(pow_signed(f32(a), f32(b))))' : 'pow_signed(a, b)'; // pow is exp2(b·log2 a): 5³ can come out 124.99
    default: throw new Error(`no binary kernel for ${op}`);
  }
}
const POW = `fn pow_signed(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  let m = pow(abs(a), b);
  if (a < 0.0 && b == floor(b)) { return select(m, -m, (i32(b) & 1) == 1); }
  if (a < 0.0) { return (a - a) / (a - a); } // a NaN at run time: a constant 0.0 / 0.0 is a shader-creation error
  return m;
}`;

export function elementwiseKernel(node: Node, g: Graph): KernelSpec {
  const out = g.values[node.outputs[0]!]!;
  const outShape = shapeOf(out);
  const n = outShape.reduce((a, b) => a * b, 1);
  const ins = node.inputs.map((id) => g.values[id]!);
  const isInt = storageOf(out) === 'i32';
  const names = ['a', 'b', 'c'];
  const binds = [
    ...ins.map((v, k) => ({ name: `in${k}`, access: 'read' as const, value: v })),
    { name: 'out', access: 'read_write' as const, value: out },
  ];
  const loads = ins.map((v, k) => `${broadcastOffset(`o${k}`, 'i', outShape, shapeOf(v))}\n`).join('');
  let helpers: string[] = [];
  let body: string;
  if (node.op === 'where') {
    body = `${loads}let cond = in0[o0];\nlet a = in1[o1];\nlet b = in2[o2];\nout[i] = select(b, a, cond != ${storageOf(ins[0]!) === 'i32' ? '0' : '0.0'});`;
  } else if (node.op === 'cast') {
    const from = storageOf(ins[0]!);
    const to = out.type.dtype;
    const conv = to === 'bool' ? `select(0, 1, in0[o0] != ${from === 'i32' ? '0' : '0.0'})`
      : isInt ? (from === 'i32' ? 'in0[o0]' : 'i32(trunc(in0[o0]))') : (from === 'i32' ? 'f32(in0[o0])' : 'in0[o0]');
    body = `${loads}out[i] = ${conv};`;
  } else if (node.op === 'dropout') {
    const p = node.attrs['p'] as number;
    if (!node.attrs['training'] || p === 0) body = `${loads}out[i] = in0[o0];`;
    else {
      helpers = [HASH];
      const threshold = Math.min(4294967295, Math.floor(p * 4294967296));
      const seed = ((node.attrs['seed'] as number) * 0x9e3779b1 + ((node.attrs['mask_id'] as number | undefined) ?? node.id) * 0x85ebca6b) >>> 0;
      body = `${loads}let keep = hash_u32(i ^ ${seed >>> 0}u) >= ${threshold >>> 0}u;\nout[i] = select(0.0, in0[o0] * ${f32(1 / (1 - p))}, keep);`;
    }
  } else if (ins.length === 1) {
    const u = unaryExpr(node, isInt);
    helpers = u.helpers;
    body = `${loads}let a = in0[o0];\nout[i] = ${u.expr};`;
  } else {
    if (node.op === 'pow') helpers = [POW];
    body = `${loads}${ins.map((_, k) => `let ${names[k]} = in${k}[o${k}];`).join('\n')}\nout[i] = ${binaryExpr(node.op, isInt)};`;
  }
  return kernel(node.op, binds, body, n, 256, helpers.join('\n'));
}
