/**
 * How each mdc op of a partitioned program becomes PyTorch code: the table TORCH below is
 * the one place that says it, as the ONNX exporter's EXPORT table does for ONNX. A rule
 * returns the Python expression of the node's result (a tuple for an op with several
 * outputs), or a reason when the node has no torch form; the exporter refuses such a node
 * with MDC0601 at each place the model uses it.
 *
 * Element-wise ops are not listed one by one: their torch expression is read off the op's
 * own body (compiler/ops/scalar.ts), the definition the CPU reference and the kernels
 * read, so GELU's tanh form, silu or softplus follow mdc's arithmetic by construction.
 * The other ops follow their CPU references (compiler/ops/<family>.ts): layer norm's
 * biased variance and eps inside the square root, attention's scale and its causal mask
 * aligned to the last key, cross entropy's mean over the positions whose label is in range,
 * embedding ids outside the table giving zero rows. Backward ops (`*_grad`) are written out
 * as formulas, with no torch.autograd, so the training step runs mdc's own backward graph.
 */
import { dimValue, type Dim } from '../dims.js';
import type { Attrs, Value } from '../ir.js';
import { elementwiseOf } from '../ops/registry.js';
import type { ScalarMath } from '../ops/scalar.js';
import type { DType } from '../types.js';

/** What a rule may read: the node's operands as Python expressions and its values' local types. */
export interface TorchCtx {
  readonly ins: readonly string[];
  readonly vin: readonly Value[];
  readonly vout: readonly Value[];
  /** Asks for a helper function of HELPERS in main.py; returns its name. */
  use(helper: keyof typeof HELPERS): string;
}

/** A node's torch form: a Python expression (a tuple for several outputs), or the reason it has none. */
export type TorchRule = (x: TorchCtx, a: Attrs) => string | { readonly refuse: string };

export const TORCH_DTYPE: Readonly<Record<DType, string>> = {
  f32: 'torch.float32',
  f16: 'torch.float16',
  bf16: 'torch.bfloat16',
  i32: 'torch.int32',
  bool: 'torch.bool',
};

export const shapeOf = (v: Value): number[] => v.type.dims.map((d: Dim) => dimValue(d)!);
const num = (a: Attrs, k: string): number => {
  const v = a[k];
  return typeof v === 'number' ? v : dimValue(v as Dim)!;
};
const list = (xs: readonly number[]) => `[${xs.join(', ')}]`;
const pyBool = (b: unknown) => (b ? 'True' : 'False');

/** A Python literal for a number: the same double (shortest round trip), inf and nan spelt as Python spells them. */
export function pyNumber(x: number, integer = false): string {
  if (Number.isNaN(x)) return 'math.nan';
  if (!Number.isFinite(x)) return x > 0 ? 'math.inf' : '-math.inf';
  if (integer) return String(Math.trunc(x));
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** The element-wise body's operations as torch expressions on tensors of dtype `dt` (the step's result). */
function torchMath(dt: DType): ScalarMath<string> {
  const int = dt === 'i32';
  const lit = (b: string | number) => (typeof b === 'number' ? pyNumber(b, int) : b);
  const k = (x: number) => `_k(${pyNumber(x, int)}, ${TORCH_DTYPE[dt]})`;
  return {
    k,
    add: (a, b) => `(${a} + ${lit(b)})`,
    sub: (a, b) => `(${a} - ${lit(b)})`,
    mul: (a, b) => `(${a} * ${lit(b)})`,
    // i32 divides toward zero and x / 0 is 0, as WGSL's integer division does.
    div: (a, b) => (int ? `_idiv(${a}, ${b})` : `(${a} / ${b})`),
    neg: (a) => `(-${a})`,
    abs: (a) => `torch.abs(${a})`,
    exp: (a) => `torch.exp(${a})`,
    log: (a) => `torch.log(${a})`,
    sqrt: (a) => `torch.sqrt(${a})`,
    rsqrt: (a) => `torch.rsqrt(${a})`,
    tanh: (a) => `torch.tanh(${a})`,
    erf: (a) => `torch.erf(${a})`,
    // torch.maximum and minimum propagate NaN, as mdc's max and min do.
    max: (a, b) => `torch.maximum(${a}, ${b})`,
    min: (a, b) => `torch.minimum(${a}, ${b})`,
    pow: (a, b) => `torch.pow(${a}, ${b})`,
    where: (c, a, b) => `torch.where(${c} != 0, ${a}, ${b})`,
    cast: (a) => (dt === 'bool' ? `(${a} != 0)` : `${a}.to(${TORCH_DTYPE[dt]})`),
  };
}

/** An element-wise node from its op's body, broadcast to the node's output shape (a body may ignore some operand's dims). */
function elementwise(op: string): TorchRule {
  return (x, a) => {
    const ew = elementwiseOf(op, a);
    if (!ew)
      return { refuse: op === 'dropout' ? 'training dropout draws its mask from mdc kernel hashes, which the export does not reproduce yet' : 'no body' };
    const out = x.vout[0]!;
    const e = ew.body(torchMath(out.type.dtype), x.ins, a);
    const same = x.vin.some((v) => v.type.dtype === out.type.dtype && shapeOf(v).join(',') === shapeOf(out).join(','));
    return same ? e : `_bc(${e}, ${list(shapeOf(out))}, ${TORCH_DTYPE[out.type.dtype]})`;
  };
}

const ELEMENTWISE = [
  'neg',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'tanh',
  'sigmoid',
  'relu',
  'silu',
  'abs',
  'fast_gelu',
  'softplus',
  'gelu',
  'add',
  'sub',
  'mul',
  'div',
  'pow',
  'maximum',
  'minimum',
  'where',
  'expand',
  'cast',
  'dropout',
];

const reduce =
  (fn: string): TorchRule =>
  (x, a) =>
    `torch.${fn}(${x.ins[0]}, dim=${num(a, 'axis')}, keepdim=${pyBool(a['keepdim'])})`;

const collective =
  (name: string, extra: (a: Attrs) => string): TorchRule =>
  (x, a) =>
    `mdc_torch.${name}(mesh, ${x.ins[0]}, ${JSON.stringify(a['axis'])}${extra(a)})`;

/** Every op with a torch form, by name (element-wise ops from their bodies). */
export const TORCH: Readonly<Record<string, TorchRule>> = {
  ...Object.fromEntries(ELEMENTWISE.map((op) => [op, elementwise(op)])),
  matmul: (x, a) => (a['transpose_b'] ? `torch.matmul(${x.ins[0]}, ${x.ins[1]}.transpose(-1, -2))` : `torch.matmul(${x.ins[0]}, ${x.ins[1]})`),
  reshape: (x) => `${x.ins[0]}.reshape(${list(shapeOf(x.vout[0]!))})`,
  transpose: (x, a) => `${x.ins[0]}.permute(${list(a['perm'] as number[])}).contiguous()`,
  slice: (x, a) => `${x.ins[0]}.narrow(${num(a, 'axis')}, ${num(a, 'start')}, ${num(a, 'end') - num(a, 'start')})`,
  slice_grad: (x, a) => `${x.use('_slice_grad')}(${x.ins[0]}, ${num(a, 'axis')}, ${num(a, 'start')}, ${list(shapeOf(x.vout[0]!))})`,
  concat: (x, a) => `torch.cat([${x.ins.join(', ')}], dim=${num(a, 'axis')})`,
  sum: reduce('sum'),
  mean: reduce('mean'),
  max: reduce('amax'),
  min: reduce('amin'),
  softmax: (x, a) => `torch.softmax(${x.ins[0]}, dim=${num(a, 'axis')})`,
  log_softmax: (x, a) => `torch.log_softmax(${x.ins[0]}, dim=${num(a, 'axis')})`,
  layer_norm: (x, a) => `${x.use('_norm')}(${x.ins[0]}, ${normArgs(x, a)}, rms=False)`,
  rms_norm: (x, a) => `${x.use('_norm')}(${x.ins[0]}, ${normArgs(x, a)}, rms=True)`,
  embedding: (x, a) => `${x.use('_embedding')}(${x.ins[0]}, ${x.ins[1]}, ${a['has_start'] ? x.ins[2] : 'None'})`,
  embedding_grad: (x, a) => `${x.use('_embedding_grad')}(${x.ins[0]}, ${x.ins[1]}, ${a['has_start'] ? x.ins[2] : 'None'}, ${list(shapeOf(x.vout[0]!))})`,
  attention: (x, a) => `${x.use('_attention')}(${x.ins.slice(0, 3).join(', ')}, ${attentionArgs(x, a, 3)})`,
  attention_grad: (x, a) => `${x.use('_attention_grad')}(${x.ins.slice(0, 4).join(', ')}, ${attentionArgs(x, a, 4)})`,
  cross_entropy: (x) => `${x.use('_cross_entropy')}(${x.ins[0]}, ${x.ins[1]})`,
  cross_entropy_grad: (x) => `${x.use('_cross_entropy_grad')}(${x.ins[0]}, ${x.ins[1]}, ${x.ins[2]})`,
  unary_grad: (x, a) =>
    UNARY_DERIVATIVES.includes(a['fn'] as string)
      ? `${x.use('_unary_grad')}(${x.ins[0]}, ${x.ins[1]}, ${JSON.stringify(a['fn'])})`
      : { refuse: `no derivative of ${String(a['fn'])}` },
  minmax_grad: (x, a) => `${x.use('_minmax_grad')}(${x.ins[0]}, ${x.ins[1]}, ${x.ins[2]}, ${pyBool(a['op'] === 'maximum')}, ${num(a, 'side')})`,
  reduce_grad: (x, a) => `${x.use('_reduce_grad')}(${x.ins[0]}, ${x.ins[1]}, ${x.ins[2]}, ${num(a, 'axis')})`,
  rotary: (x, a) => `${x.use('_rotary')}(${x.ins[0]}, ${num(a, 'heads')}, ${pyNumber(a['theta'] as number)}, ${num(a, 'offset')}, ${pyBool(a['inverse'])})`,
  topk: (x) => `${x.use('_topk')}(${x.ins[0]}, ${shapeOf(x.vout[0]!).at(-1)!})`,
  topk_grad: (x) => `${x.use('_topk_grad')}(${x.ins[0]}, ${x.ins[1]}, ${list(shapeOf(x.vout[0]!))})`,
  moe_dispatch: (x, a) => `${x.use('_moe_dispatch')}(${x.ins[0]}, ${x.ins[1]}, ${list(shapeOf(x.vout[0]!))}, ${num(a, 'groups')})`,
  moe_combine: (x, a) => `${x.use('_moe_combine')}(${x.ins[0]}, ${x.ins[1]}, ${x.ins[2]}, ${num(a, 'groups')})`,
  moe_combine_grad: (x, a) => `${x.use('_moe_combine_grad')}(${x.ins.slice(0, 4).join(', ')}, ${num(a, 'groups')})`,
  round_to: (x, a) => `${x.ins[0]}.to(${TORCH_DTYPE[a['dtype'] as DType]}).to(torch.float32)`,
  all_finite: (x) => `torch.isfinite(${x.ins[0]}).all().to(torch.float32)`,
  all_reduce: collective('all_reduce', () => ''),
  reduce_scatter: collective('reduce_scatter', (a) => `, ${num(a, 'dim')}`),
  all_gather: collective('all_gather', (a) => `, ${num(a, 'dim')}`),
  all_to_all: collective('all_to_all', (a) => `, ${num(a, 'dim')}, ${num(a, 'to')}`),
  shard_slice: collective('shard_slice', (a) => `, ${num(a, 'dim')}`),
  partial_mask: collective('partial_mask', () => ''),
};

function normArgs(x: TorchCtx, a: Attrs): string {
  let k = 1;
  const w = a['has_weight'] ? x.ins[k++] : 'None';
  const b = a['has_bias'] ? x.ins[k++] : 'None';
  return `${w}, ${b}, ${pyNumber(a['eps'] as number)}`;
}

function attentionArgs(x: TorchCtx, a: Attrs, maskAt: number): string {
  const mask = a['has_mask'] ? x.ins[maskAt] : 'None';
  return `${num(a, 'heads')}, ${num(a, 'kv_heads')}, ${pyBool(a['causal'])}, ${pyNumber(a['scale'] as number)}, ${mask}`;
}

/** The derivatives `_unary_grad` knows (compiler/ops/elementwise.ts DERIV). */
const UNARY_DERIVATIVES = ['relu', 'abs', 'gelu', 'gelu_tanh', 'silu', 'sigmoid', 'tanh', 'exp', 'log', 'sqrt', 'rsqrt'];

/** Helpers that call others. */
export const HELPER_NEEDS: Readonly<Partial<Record<keyof typeof HELPERS, readonly (keyof typeof HELPERS)[]>>> = {
  _attention_grad: ['_attention'],
  _moe_dispatch: ['_moe_slots'],
  _moe_combine: ['_moe_slots'],
  _moe_combine_grad: ['_moe_slots'],
};

/**
 * Python helpers main.py defines when some rule uses them (always `_k`, `_bc` and `_idiv`).
 * Each follows the CPU reference of its op (named in its comment).
 */
export const HELPERS = {
  _k: `def _k(value, dtype):
    return torch.tensor(value, dtype=dtype, device=DEVICE)`,
  _bc: `def _bc(x, shape, dtype):
    return torch.broadcast_to(x.to(dtype), shape).contiguous()`,
  _idiv: `def _idiv(a, b):
    # i32 division toward zero, and x / 0 = 0 (WGSL's rule, which mdc's kernels follow).
    safe = torch.where(b == 0, torch.ones_like(b), b)
    return torch.where(b == 0, torch.zeros_like(a), torch.div(a, safe, rounding_mode="trunc"))`,
  _slice_grad: `def _slice_grad(g, axis, start, shape):
    # slice_grad: g placed at [start, start + its size) along axis, zeros elsewhere.
    out = torch.zeros(shape, dtype=g.dtype, device=g.device)
    out.narrow(axis, start, g.shape[axis]).copy_(g)
    return out`,
  _norm: `def _norm(x, weight, bias, eps, rms):
    # layer_norm / rms_norm over the last dim: biased variance, eps inside the square root.
    xc = x if rms else x - x.mean(dim=-1, keepdim=True)
    y = xc * torch.rsqrt((xc * xc).mean(dim=-1, keepdim=True) + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y`,
  _embedding: `def _embedding(table, ids, start):
    # embedding: ids outside the table's rows [start, start + V) give zero rows.
    local = ids.long() - (0 if start is None else int(start[0]))
    inside = (local >= 0) & (local < table.shape[0])
    rows = table[torch.where(inside, local, torch.zeros_like(local))]
    return rows * inside.unsqueeze(-1).to(table.dtype)`,
  _embedding_grad: `def _embedding_grad(g, ids, start, shape):
    # embedding_grad: rows of g added into the table rows their ids name; ids outside add nothing.
    local = ids.long().reshape(-1) - (0 if start is None else int(start[0]))
    inside = (local >= 0) & (local < shape[0])
    out = torch.zeros(shape, dtype=g.dtype, device=g.device)
    out.index_add_(0, local[inside], g.reshape(-1, shape[1])[inside])
    return out`,
  _attention: `def _attention_probs(q, k, heads, kv_heads, causal, scale, mask):
    # Scores [B, H, Sq, Sk] of q [B, Sq, H*Dh] against k [B, Sk, KVH*Dh]; query head h reads kv head h // (H / KVH).
    b, sq, w = q.shape
    sk = k.shape[1]
    dh = w // heads
    qh = q.reshape(b, sq, heads, dh).transpose(1, 2)
    kh = k.reshape(b, sk, kv_heads, dh).transpose(1, 2).repeat_interleave(heads // kv_heads, dim=1)
    s = torch.matmul(qh, kh.transpose(-1, -2)) * scale
    allowed = torch.ones(sq, sk, dtype=torch.bool, device=q.device)
    if causal:
        # Query i sees keys j <= i + Sk - Sq (the last query sees every key).
        allowed = torch.ones(sq, sk, dtype=torch.bool, device=q.device).tril(sk - sq)
    allowed = allowed.reshape(1, 1, sq, sk)
    if mask is not None:
        allowed = allowed & (mask != 0).reshape(b, 1, 1, sk)
    s = s.masked_fill(~allowed, -math.inf)
    # A row that may see no key has zero probabilities (and output), not NaN.
    p = torch.softmax(s, dim=-1).nan_to_num(0.0)
    return p


def _heads(x, heads, dh):
    b, s, _ = x.shape
    return x.reshape(b, s, heads, dh).transpose(1, 2)


def _merge(x):
    b, h, s, dh = x.shape
    return x.transpose(1, 2).reshape(b, s, h * dh)


def _attention(q, k, v, heads, kv_heads, causal, scale, mask):
    # attention: softmax(scale * q k^T, causal / masked) v per head.
    dh = q.shape[2] // heads
    p = _attention_probs(q, k, heads, kv_heads, causal, scale, mask)
    vh = _heads(v, kv_heads, dh).repeat_interleave(heads // kv_heads, dim=1)
    return _merge(torch.matmul(p, vh))`,
  _attention_grad: `def _attention_grad(g, q, k, v, heads, kv_heads, causal, scale, mask):
    # attention_grad: dv = p^T g, dp = g v^T, ds = p (dp - sum(p dp)), dq = scale ds k, dk = scale ds^T q,
    # the kv heads' gradients summed over the query heads that read them.
    dh = q.shape[2] // heads
    rep = heads // kv_heads
    p = _attention_probs(q, k, heads, kv_heads, causal, scale, mask)
    gh = _heads(g, heads, dh)
    qh = _heads(q, heads, dh)
    kh = _heads(k, kv_heads, dh).repeat_interleave(rep, dim=1)
    vh = _heads(v, kv_heads, dh).repeat_interleave(rep, dim=1)
    dv = torch.matmul(p.transpose(-1, -2), gh)
    dp = torch.matmul(gh, vh.transpose(-1, -2))
    ds = p * (dp - (p * dp).sum(dim=-1, keepdim=True))
    dq = torch.matmul(ds, kh) * scale
    dk = torch.matmul(ds.transpose(-1, -2), qh) * scale

    def fold(x):
        b, _, s, _ = x.shape
        return _merge(x.reshape(b, kv_heads, rep, s, dh).sum(dim=2))

    return _merge(dq), fold(dk), fold(dv)`,
  _cross_entropy: `def _cross_entropy(logits, labels):
    # cross_entropy: mean over the positions whose label is in [0, V) of logsumexp - logit[label].
    v = logits.shape[-1]
    lg = logits.reshape(-1, v)
    lb = labels.reshape(-1).long()
    ok = (lb >= 0) & (lb < v)
    picked = lg.gather(1, torch.where(ok, lb, torch.zeros_like(lb)).unsqueeze(1)).squeeze(1)
    per = torch.logsumexp(lg, dim=1) - picked
    count = ok.sum().clamp(min=1)
    return (per * ok.to(lg.dtype)).sum() / count`,
  _cross_entropy_grad: `def _cross_entropy_grad(g, logits, labels):
    # cross_entropy_grad: g (softmax(logits) - onehot(label)) / count on rows with a label in range, zero elsewhere.
    v = logits.shape[-1]
    lg = logits.reshape(-1, v)
    lb = labels.reshape(-1).long()
    ok = (lb >= 0) & (lb < v)
    count = ok.sum().clamp(min=1)
    d = torch.softmax(lg, dim=1)
    d = d - torch.nn.functional.one_hot(torch.where(ok, lb, torch.zeros_like(lb)), v).to(lg.dtype)
    d = d * ok.to(lg.dtype).unsqueeze(1) * (g / count)
    return d.reshape(logits.shape)`,
  _minmax_grad: `def _minmax_grad(g, a, b, is_max, side):
    # minmax_grad: g where side (0: a, 1: b) won maximum / minimum(a, b), ties to a, else 0.
    a_wins = (a >= b) if is_max else (a <= b)
    return torch.where(a_wins == (side == 0), g, torch.zeros_like(g))`,
  _reduce_grad: `def _reduce_grad(g, x, y, axis):
    # reduce_grad: g at the first position along axis that attains the max / min y (NaN attains NaN).
    if g.dim() < x.dim():
        g, y = g.unsqueeze(axis), y.unsqueeze(axis)
    hit = (x == y) | (torch.isnan(x) & torch.isnan(y))
    first = hit & (hit.to(torch.int32).cumsum(dim=axis) == 1)
    return torch.where(first, g.expand_as(x), torch.zeros_like(x))`,
  _rotary: `def _rotary(x, heads, theta, offset, inverse):
    # rotary: within each head, element j < Dh/2 pairs with j + Dh/2; the pair turns by (position + offset) * theta^(-2j/Dh),
    # the other way when inverse (its gradient). Angles in float64, as the reference computes them.
    s, w = x.shape[-2], x.shape[-1]
    dh = w // heads
    half = dh // 2
    freq = theta ** (-2 * torch.arange(half, dtype=torch.float64) / dh)
    ang = (torch.arange(s, dtype=torch.float64) + offset).unsqueeze(1) * freq.unsqueeze(0)
    c = torch.cos(ang).to(x.dtype).to(x.device).unsqueeze(1)
    sn = torch.sin(ang).to(x.dtype).to(x.device).unsqueeze(1)
    if inverse:
        sn = -sn
    xs = x.reshape(*x.shape[:-1], heads, 2, half)
    a, b = xs[..., 0, :], xs[..., 1, :]
    return torch.stack([a * c - b * sn, b * c + a * sn], dim=-2).reshape(x.shape)`,
  _topk: `def _topk(x, k):
    # topk: the k largest along the last axis, ties to the lower index (a stable descending sort).
    values, index = torch.sort(x, dim=-1, descending=True, stable=True)
    return values[..., :k].contiguous(), index[..., :k].to(torch.int32).contiguous()`,
  _topk_grad: `def _topk_grad(g, index, shape):
    # topk_grad: g added back at the positions the indices name.
    out = torch.zeros(shape, dtype=g.dtype, device=g.device)
    return out.scatter_add_(-1, index.long(), g)`,
  _moe_slots: `def _moe_slots(choice, experts, capacity, groups):
    # Each (token, choice)'s slot in its expert (moe_dispatch's rule): per group of tokens, slots fill in token order, then
    # choice order, so a choice's slot is the number of earlier choices of its expert in its group; -1 past capacity.
    t, k = choice.shape
    c = choice.long().reshape(groups, (t // groups) * k)
    ok = (c >= 0) & (c < experts)
    e = torch.where(ok, c, torch.zeros_like(c))
    hot = torch.nn.functional.one_hot(e, experts) * ok.unsqueeze(-1)
    rank = (hot.cumsum(dim=1) - 1).gather(2, e.unsqueeze(-1)).squeeze(-1)
    base = torch.arange(groups, device=choice.device).unsqueeze(1) * capacity
    slot = torch.where(ok & (rank < capacity), base + rank, torch.full_like(rank, -1))
    return slot.reshape(t, k), e.reshape(t, k)`,
  _moe_dispatch: `def _moe_dispatch(x, choice, shape, groups):
    # moe_dispatch: token rows copied to their experts' slots [E, groups * capacity, D]; empty slots are zero.
    experts, slots, d = shape
    slot, e = _moe_slots(choice, experts, slots // groups, groups)
    keep = slot >= 0
    out = torch.zeros(experts * slots, d, dtype=x.dtype, device=x.device)
    token = torch.arange(choice.shape[0], device=x.device).unsqueeze(1).expand_as(slot)
    out[(e * slots + slot)[keep]] = x[token[keep]]
    return out.reshape(shape)`,
  _moe_combine: `def _moe_combine(y, choice, gates, groups):
    # moe_combine: out[t] = sum over the choices j that found a slot of gates[t, j] * y[expert, slot].
    experts, slots, d = y.shape
    slot, e = _moe_slots(choice, experts, slots // groups, groups)
    keep = slot >= 0
    rows = y.reshape(experts * slots, d)[torch.where(keep, e * slots + slot, torch.zeros_like(slot))]
    return (rows * (gates * keep.to(gates.dtype)).unsqueeze(-1)).sum(dim=1)`,
  _moe_combine_grad: `def _moe_combine_grad(g, y, choice, gates, groups):
    # moe_combine_grad: dy[expert, slot] += gates[t, j] * g[t]; dgates[t, j] = g[t] . y[expert, slot] (0 without a slot).
    experts, slots, d = y.shape
    slot, e = _moe_slots(choice, experts, slots // groups, groups)
    keep = slot >= 0
    flat = torch.where(keep, e * slots + slot, torch.zeros_like(slot))
    dy = torch.zeros(experts * slots, d, dtype=y.dtype, device=y.device)
    contrib = gates.unsqueeze(-1) * g.unsqueeze(1)
    dy.index_add_(0, flat[keep], contrib[keep])
    rows = y.reshape(experts * slots, d)[flat]
    dgates = (rows * g.unsqueeze(1)).sum(dim=-1) * keep.to(g.dtype)
    return dy.reshape(y.shape), dgates`,
  _unary_grad: `_SQRT_2_PI = math.sqrt(2 / math.pi)


def _unary_grad(g, x, fn):
    # unary_grad: g * f'(x) for the functions mdc differentiates this way.
    if fn == "relu":
        d = (x > 0).to(x.dtype)
    elif fn == "abs":
        d = torch.sign(x)
    elif fn == "gelu":
        d = 0.5 * (1 + torch.erf(x / math.sqrt(2))) + x * torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    elif fn == "gelu_tanh":
        th = torch.tanh(_SQRT_2_PI * (x + 0.044715 * x * x * x))
        d = 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * _SQRT_2_PI * (1 + 3 * 0.044715 * x * x)
    elif fn == "silu":
        s = torch.sigmoid(x)
        d = s * (1 + x * (1 - s))
    elif fn == "sigmoid":
        s = torch.sigmoid(x)
        d = s * (1 - s)
    elif fn == "tanh":
        d = 1 - torch.tanh(x) ** 2
    elif fn == "exp":
        d = torch.exp(x)
    elif fn == "log":
        d = 1 / x
    elif fn == "sqrt":
        d = 0.5 / torch.sqrt(x)
    else:
        d = -0.5 * torch.pow(x, -1.5)
    return g * d`,
} as const;
