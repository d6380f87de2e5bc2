import { dimConst, dimDiv, dimEquals, dimMul, dimValue, type Dim } from '../dims.js';
import { printDim, printType, type TType } from '../types.js';
import { requireFloat, requireRank, t, type InferCtx, type OpDef } from './signature.js';

function requireIntDtype(c: InferCtx, what: string, x: TType): boolean {
  if (x.dtype !== 'i32') {
    c.error('MDC0302', c.op, what, printType(x));
    return false;
  }
  return true;
}

function headDim(c: InferCtx, what: string, width: Dim, heads: number): Dim | undefined {
  if (!(heads >= 1)) return c.error('MDC0210', `${c.op} heads`, String(heads));
  const hd = dimDiv(width, dimConst(heads));
  if (!hd) return c.error('MDC0207', `${c.op} ${what}`, printDim(width), `heads = ${heads}`);
  return hd;
}

/** A symbolic dim may turn out divisible once it is concrete; only a concrete one can fail. */
function divisible(d: Dim, n: number): boolean {
  const v = dimValue(d);
  return v === undefined || v % n === 0;
}

export const nnOps: OpDef[] = [
  {
    name: 'embedding', cls: 'injective',
    doc: 'embedding(table, ids): rows of table[V, D] gathered by integer ids[...] → [..., D]. Ids outside [0, V) give zero rows.',
    args: [{ name: 'table', kind: 'tensor' }, { name: 'ids', kind: 'tensor' }],
    infer: (c) => {
      const table = c.tensor('table');
      const ids = c.tensor('ids');
      if (table.dims.length !== 2) return c.error('MDC0201', 'embedding', 'a table of rank 2 [V, D]', printType(table));
      if (!requireIntDtype(c, 'ids', ids)) return undefined;
      return [t(table.dtype, [...ids.dims, table.dims[1]!])];
    },
  },
  {
    name: 'rotary', cls: 'injective',
    doc: 'rotary(x, heads, theta = 10000, offset = 0): rotary position embedding on x[..., S, heads·Dh], rotating half-dims per head (LLaMA convention).',
    args: [{ name: 'x', kind: 'tensor' }, { name: 'heads', kind: 'int' }, { name: 'theta', kind: 'float', default: 10000 }, { name: 'offset', kind: 'int', default: 0, kwOnly: true }],
    infer: (c) => {
      const x = c.tensor('x');
      if (!requireRank(c, x, 2) || !requireFloat(c, 'x', x)) return undefined;
      const hd = headDim(c, 'width', x.dims[x.dims.length - 1]!, c.int('heads'));
      if (!hd) return undefined;
      if (!dimDiv(hd, dimConst(2))) return c.error('MDC0207', 'rotary head dim', printDim(hd), '2');
      return [t(x.dtype, x.dims)];
    },
  },
  {
    name: 'attention', cls: 'opaque',
    doc: 'attention(q, k, v, mask?, heads, kv_heads = heads, causal = false, scale = 1/sqrt(Dh)): multi-head scaled dot-product attention on q[B, Sq, heads·Dh], k/v[B, Sk, kv_heads·Dh]; mask[B, Sk] marks keys to attend (nonzero); grouped KV heads when kv_heads < heads.',
    args: [
      { name: 'q', kind: 'tensor' }, { name: 'k', kind: 'tensor' }, { name: 'v', kind: 'tensor' },
      { name: 'mask', kind: 'tensor', default: null },
      { name: 'heads', kind: 'int', kwOnly: true }, { name: 'kv_heads', kind: 'int', default: 0, kwOnly: true },
      { name: 'causal', kind: 'bool', default: false, kwOnly: true }, { name: 'scale', kind: 'float', default: 0, kwOnly: true },
    ],
    infer: (c) => {
      const q = c.tensor('q');
      const k = c.tensor('k');
      const v = c.tensor('v');
      for (const [n, x] of [['q', q], ['k', k], ['v', v]] as const) {
        if (x.dims.length !== 3) return c.error('MDC0201', 'attention', `${n} of rank 3 [B, S, heads·Dh]`, printType(x));
      }
      if (!requireFloat(c, 'q', q) || k.dtype !== q.dtype || v.dtype !== q.dtype) {
        return c.error('MDC0301', 'attention', printType(q), printType(k.dtype !== q.dtype ? k : v));
      }
      const heads = c.int('heads');
      const kvHeads = c.int('kv_heads') || heads;
      const hd = headDim(c, 'q width', q.dims[2]!, heads);
      if (!hd) return undefined;
      if (heads % kvHeads !== 0) return c.error('MDC0207', 'attention heads', String(heads), `kv_heads = ${kvHeads}`);
      const kvWidth = dimMul(hd, dimConst(kvHeads));
      for (const [n, x] of [['k', k], ['v', v]] as const) {
        if (!dimEquals(x.dims[2]!, kvWidth)) return c.error('MDC0214', 'attention', printType(q), printType(x), `${n} width must be kv_heads·Dh = ${printDim(kvWidth)}`);
        if (!dimEquals(x.dims[0]!, q.dims[0]!)) return c.error('MDC0214', 'attention', printType(q), printType(x), 'batch dims differ');
      }
      if (!dimEquals(k.dims[1]!, v.dims[1]!)) return c.error('MDC0214', 'attention', printType(k), printType(v), 'k and v lengths differ');
      const mask = c.optTensor('mask');
      if (mask && (mask.dims.length !== 2 || !dimEquals(mask.dims[0]!, q.dims[0]!) || !dimEquals(mask.dims[1]!, k.dims[1]!))) {
        return c.error('MDC0214', 'attention', printType(k), printType(mask), 'mask must be [B, Sk]');
      }
      c.set('kv_heads', kvHeads);
      const hdv = dimValue(hd);
      c.set('scale', c.num('scale') || (hdv !== undefined ? 1 / Math.sqrt(hdv) : 0));
      return [t(q.dtype, q.dims)];
    },
  },
  {
    name: 'topk', cls: 'opaque',
    doc: 'topk(x, k): the k largest values along the last axis and their indices (ties: lower index first), for mixture-of-experts routing.',
    args: [{ name: 'x', kind: 'tensor' }, { name: 'k', kind: 'int' }],
    infer: (c) => {
      const x = c.tensor('x');
      if (!requireRank(c, x, 1)) return undefined;
      const k = c.int('k');
      const n = dimValue(x.dims[x.dims.length - 1]!);
      if (!(k >= 1) || (n !== undefined && k > n)) return c.error('MDC0211', 'topk', `k = ${k} must be in [1, ${n ?? 'last dim'}]`);
      const dims = [...x.dims.slice(0, -1), dimConst(k)];
      return [t(x.dtype, dims), t('i32', dims)];
    },
  },
  {
    name: 'moe_dispatch', cls: 'opaque',
    doc: 'moe_dispatch(x, choice, experts, capacity, groups = 1): routes tokens x[T, D] to expert slots [experts, groups·capacity, D] by choice i32[T, k] (GShard). Tokens form `groups` contiguous groups; each group fills `capacity` slots per expert in token order, then choice order; tokens past capacity are dropped, empty slots are zero.',
    args: [
      { name: 'x', kind: 'tensor' }, { name: 'choice', kind: 'tensor' },
      { name: 'experts', kind: 'int', kwOnly: true }, { name: 'capacity', kind: 'int', kwOnly: true }, { name: 'groups', kind: 'int', default: 1, kwOnly: true },
    ],
    infer: (c) => {
      const x = c.tensor('x');
      const ch = c.tensor('choice');
      if (x.dims.length !== 2) return c.error('MDC0201', 'moe_dispatch', 'tokens of rank 2 [T, D]', printType(x));
      if (!requireIntDtype(c, 'choice', ch)) return undefined;
      if (ch.dims.length !== 2 || !dimEquals(ch.dims[0]!, x.dims[0]!)) return c.error('MDC0214', 'moe_dispatch', printType(x), printType(ch), 'choice must be [T, k] for the T tokens');
      const e = c.int('experts');
      const cap = c.int('capacity');
      const groups = c.int('groups');
      if (!(e >= 1)) return c.error('MDC0210', 'experts', String(e));
      if (!(cap >= 1)) return c.error('MDC0210', 'capacity', String(cap));
      if (!(groups >= 1)) return c.error('MDC0210', 'groups', String(groups));
      if (!divisible(x.dims[0]!, groups)) return c.error('MDC0207', 'moe_dispatch tokens', printDim(x.dims[0]!), `groups = ${groups}`);
      return [t(x.dtype, [dimConst(e), dimConst(groups * cap), x.dims[1]!])];
    },
  },
  {
    name: 'moe_combine', cls: 'opaque',
    doc: 'moe_combine(y, choice, gates, groups = 1): the inverse of moe_dispatch: out[t] = Σ_j gates[t, j] · y[choice[t, j], slot of (t, j)] over the choices that found a slot; y[experts, groups·capacity, D], choice i32[T, k], gates[T, k] → [T, D].',
    args: [
      { name: 'y', kind: 'tensor' }, { name: 'choice', kind: 'tensor' }, { name: 'gates', kind: 'tensor' },
      { name: 'groups', kind: 'int', default: 1, kwOnly: true },
    ],
    infer: (c) => {
      const y = c.tensor('y');
      const ch = c.tensor('choice');
      const gates = c.tensor('gates');
      if (y.dims.length !== 3) return c.error('MDC0201', 'moe_combine', 'expert outputs of rank 3 [E, C, D]', printType(y));
      if (!requireIntDtype(c, 'choice', ch)) return undefined;
      if (ch.dims.length !== 2) return c.error('MDC0201', 'moe_combine', 'choice of rank 2 [T, k]', printType(ch));
      if (gates.dims.length !== 2 || !dimEquals(gates.dims[0]!, ch.dims[0]!) || !dimEquals(gates.dims[1]!, ch.dims[1]!)) return c.error('MDC0214', 'moe_combine', printType(ch), printType(gates), 'gates must have the shape of choice');
      if (gates.dtype !== y.dtype) return c.error('MDC0301', 'moe_combine', printType(y), printType(gates));
      const groups = c.int('groups');
      if (!(groups >= 1)) return c.error('MDC0210', 'groups', String(groups));
      if (!divisible(ch.dims[0]!, groups)) return c.error('MDC0207', 'moe_combine tokens', printDim(ch.dims[0]!), `groups = ${groups}`);
      if (!divisible(y.dims[1]!, groups)) return c.error('MDC0207', 'moe_combine slots', printDim(y.dims[1]!), `groups = ${groups}`);
      return [t(y.dtype, [ch.dims[0]!, y.dims[2]!])];
    },
  },
  {
    name: 'patchify', cls: 'injective',
    doc: 'patchify(x, patch): images x[B, C, H, W] → patch vectors [B, (H/p)·(W/p), C·p·p] (ViT).',
    args: [{ name: 'x', kind: 'tensor' }, { name: 'patch', kind: 'int' }],
    infer: (c) => {
      const x = c.tensor('x');
      if (x.dims.length !== 4) return c.error('MDC0201', 'patchify', 'an image batch of rank 4 [B, C, H, W]', printType(x));
      const p = c.int('patch');
      if (!(p >= 1)) return c.error('MDC0210', 'patch', String(p));
      const gh = dimDiv(x.dims[2]!, dimConst(p));
      const gw = dimDiv(x.dims[3]!, dimConst(p));
      if (!gh) return c.error('MDC0207', 'patchify height', printDim(x.dims[2]!), `patch = ${p}`);
      if (!gw) return c.error('MDC0207', 'patchify width', printDim(x.dims[3]!), `patch = ${p}`);
      return [t(x.dtype, [x.dims[0]!, dimMul(gh, gw), dimMul(x.dims[1]!, dimConst(p * p))])];
    },
  },
  {
    name: 'conv2d', cls: 'opaque',
    doc: 'conv2d(x, w, stride = 1, padding = 0): x[B, C, H, W] with w[O, C, kh, kw] → [B, O, H\', W\'].',
    args: [{ name: 'x', kind: 'tensor' }, { name: 'w', kind: 'tensor' }, { name: 'stride', kind: 'int', default: 1 }, { name: 'padding', kind: 'int', default: 0 }],
    infer: (c) => {
      const x = c.tensor('x');
      const w = c.tensor('w');
      if (x.dims.length !== 4) return c.error('MDC0201', 'conv2d', 'x of rank 4 [B, C, H, W]', printType(x));
      if (w.dims.length !== 4) return c.error('MDC0201', 'conv2d', 'w of rank 4 [O, C, kh, kw]', printType(w));
      if (!dimEquals(x.dims[1]!, w.dims[1]!)) return c.error('MDC0214', 'conv2d', printType(x), printType(w), 'channel dims differ');
      const s = c.int('stride');
      const p = c.int('padding');
      if (!(s >= 1)) return c.error('MDC0210', 'stride', String(s));
      const out: Dim[] = [];
      for (const i of [2, 3]) {
        const n = dimValue(x.dims[i]!);
        const kk = dimValue(w.dims[i]!);
        if (n === undefined || kk === undefined) return c.error('MDC0211', 'conv2d', 'spatial and kernel sizes must be constants');
        const o = Math.floor((n + 2 * p - kk) / s) + 1;
        if (o < 1) return c.error('MDC0211', 'conv2d', `kernel ${kk} larger than padded input ${n + 2 * p}`);
        out.push(dimConst(o));
      }
      return [t(x.dtype, [x.dims[0]!, w.dims[0]!, ...out])];
    },
  },
  {
    name: 'cross_entropy', cls: 'reduction',
    doc: 'cross_entropy(logits, labels): mean over positions of -log softmax(logits)[label]; logits[..., V], labels i32[...].',
    args: [{ name: 'logits', kind: 'tensor' }, { name: 'labels', kind: 'tensor' }],
    infer: (c) => {
      const lg = c.tensor('logits');
      const lb = c.tensor('labels');
      if (!requireRank(c, lg, 1) || !requireFloat(c, 'logits', lg) || !requireIntDtype(c, 'labels', lb)) return undefined;
      const lead = lg.dims.slice(0, -1);
      if (lb.dims.length !== lead.length || lb.dims.some((d, i) => !dimEquals(d, lead[i]!))) {
        return c.error('MDC0214', 'cross_entropy', printType(lg), printType(lb), 'labels must have the shape of logits without its last dim');
      }
      return [t('f32', [])];
    },
  },
];
