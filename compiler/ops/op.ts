import type { Attrs, InputView, Value } from '../ir.js';
import type { GradRule } from './grad-ctx.js';
import type { ElementwiseBody } from './scalar.js';
import type { Shapes, ShardingRule } from './sharding.js';
import type { ArgSpec, InferCtx, OpClass } from './signature.js';
import type { RefOp, RefTensor } from './tensor.js';
import type { TType } from '../types.js';

/**
 * Everything mdc knows about one op, in one place: each op family's file
 * (compiler/ops/<family>.ts) defines its ops with these facets, and every table that
 * used to repeat them is derived from the registry (registry.ts): the CPU reference
 * (compiler/reference), the gradient rules (compiler/autodiff), the sharding signatures
 * (compiler/sharding/specs.ts), FLOPs, the element-wise ops fusion may fuse
 * (compiler/fusion) and the kernel of each op (codegen/kernels/index.ts).
 * test/ops/facets.test.ts fails when an op lacks one.
 *
 * `A` is the op's attributes as the op reads them: the node's attributes (`Attrs`),
 * typed once here instead of cast at every use.
 */
export interface OpCommon<A> {
  readonly name: string;
  readonly doc: string;
  /** The op class fusion's legality follows (TVM's): injective, reduction, out-fusable, opaque. */
  readonly cls: OpClass;
  /** The vector–Jacobian rule, or 'none': the op has no gradient and autodiff refuses to differentiate through it. */
  readonly grad: GradRule<A> | 'none';
  /** The sharding signature (compiler/ops/sharding.ts); element-wise ops use `elementwiseSharding`. */
  readonly sharding: ShardingRule<A>;
  /** The kernel codegen generates for a node of the op (its generator: codegen/kernels/index.ts). */
  readonly kernel: KernelKind;
  /**
   * An index-remapping op (transpose, slice): the view of its input it is, from its input
   * and output shapes. Fusion lets an element-wise body read the input through it instead
   * of a copy (compiler/ir.ts InputView).
   */
  readonly view?: (attrs: A, inShape: readonly number[], outShape: readonly number[]) => InputView;
  /**
   * A reduction a fused rows body may hold (over the last axis): how it folds a row, in
   * order from `init`; `mean` divides by the row's length after.
   */
  readonly fold?: RowFold;
}

export interface RowFold {
  readonly init: number;
  readonly f: (acc: number, v: number) => number;
  readonly mean?: boolean;
}

/**
 * An element-wise op: its value at each element from its operands' values at that
 * element's broadcast index (scalar.ts). The CPU reference, the fused kernel's
 * expression and the FLOP count come from the body; fusion may fuse an injective op
 * with a body. `when`: the body applies only to nodes with these attributes (training
 * dropout needs the element's index, so it has a reference and a kernel of its own).
 */
export interface Elementwise<A> {
  readonly body: ElementwiseBody<A>;
  readonly when?: (attrs: A) => boolean;
}

/** FLOPs of one node from its global input and output shapes and attributes. */
export type FlopRule<A = never> = (inShapes: Shapes, outShapes: Shapes, attrs: A) => number;

/**
 * A collective's reference: the outputs of the devices of one group along its mesh axis
 * (`attrs.axis`), in the order of their coordinate on it, from their inputs.
 */
export type GroupRef<A = never> = (inputs: readonly RefTensor[], attrs: A) => RefTensor[];

interface WithBody<A> {
  readonly elementwise: Elementwise<A>;
  readonly across?: undefined;
  /** Only for nodes the body does not apply to (`when`); the body is the reference otherwise. */
  readonly reference?: RefOp<A>;
  /** Default: the body's operations per output element (scalar.ts bodyFlops). */
  readonly flops?: FlopRule<A>;
}

interface WithoutBody<A> {
  readonly elementwise?: undefined;
  readonly across?: undefined;
  readonly reference: RefOp<A>;
  readonly flops: FlopRule<A>;
}

/** A collective (inserted by the partitioner): its reference runs across the devices of a group, not on one. */
interface AcrossDevices<A> {
  readonly elementwise?: undefined;
  readonly reference?: undefined;
  readonly across: GroupRef<A>;
  readonly flops: FlopRule<A>;
}

/** The facets of an op a node can have: internal ops (backward-only, mixed precision, collectives) have these alone. */
export type OpFacets<A = Attrs> = OpCommon<A> & (WithBody<A> | WithoutBody<A> | AcrossDevices<A>);

/** What the surface language sees of an op: its arguments and its shape rule. */
export interface Signature {
  readonly name: string;
  readonly doc: string;
  readonly cls: OpClass;
  readonly args: readonly ArgSpec[];
  readonly infer: (c: InferCtx) => readonly TType[] | undefined;
  /** Attributes elaboration gives the node beyond its arguments' (dropout: whether it trains, its mask's identity). */
  readonly implicitAttrs?: (c: ElaborationCtx) => Attrs;
  /**
   * How many inputs a pass may give a node after its arguments' (dropout: the training step's
   * counter, compiler/train/dropout-step.ts). The shape rule does not see them.
   */
  readonly implicitInputs?: number;
}

/** What elaboration tells an op about the node it is making. */
export interface ElaborationCtx {
  /** The model is lowered for training. */
  readonly training: boolean;
  /** The id the node gets (the first of them, for an op that lowers to several). */
  readonly nodeId: number;
  /** Adds a node of another op, at the call's span and scope. */
  node(op: string, inputs: readonly Value[], outTypes: readonly TType[], attrs: Attrs): Value[];
}

/** An op of the surface language with every facet. */
export type OpDef<A = Attrs> = Signature & OpFacets<A>;

/** A surface op elaboration rewrites into another (split becomes slices): no node of it is ever made. */
export interface LoweredOp extends Signature {
  readonly lowersTo: string;
  /** Its nodes of `lowersTo` for a call with these tensor inputs, result types and attributes; the call's value is the tuple of their outputs. */
  readonly lower: (c: ElaborationCtx, inputs: readonly Value[], outTypes: readonly TType[], attrs: Attrs) => Value[];
}

export type SurfaceOp = OpDef | LoweredOp;

/**
 * Kernel kinds: one generator each in codegen/kernels/index.ts (a table keyed by this
 * type, so a kind without a generator does not compile). `alias`: no kernel, the output
 * shares its input's buffer (reshape); `collective`: a runtime step, not a kernel.
 */
export type KernelKind =
  | 'elementwise'
  | 'dropout'
  | 'matmul'
  | 'reduce'
  | 'softmax'
  | 'norm'
  | 'cross_entropy'
  | 'transpose'
  | 'slice'
  | 'concat'
  | 'embedding'
  | 'rotary'
  | 'attention'
  | 'relative_position_bias'
  | 'topk'
  | 'moe_dispatch'
  | 'moe_combine'
  | 'patchify'
  | 'conv2d'
  | 'round_to'
  | 'all_finite'
  | 'unary_grad'
  | 'minmax_grad'
  | 'reduce_grad'
  | 'embedding_grad'
  | 'topk_grad'
  | 'slice_grad'
  | 'cross_entropy_grad'
  | 'attention_grad'
  | 'relative_position_bias_grad'
  | 'patchify_grad'
  | 'conv2d_grad'
  | 'moe_combine_grad'
  | 'kv_write'
  | 'attention_decode'
  | 'alias'
  | 'collective';

/**
 * Defines an op that reads its attributes as `A`. The registry holds every op as one
 * that takes a node's `Attrs`: this is the one place where a node's attributes become
 * the op's own type (what elaboration and the passes that make nodes of it give it).
 */
export const defineOp = <A>(d: OpDef<A>): OpDef => d as unknown as OpDef;
export const defineInternalOp = <A>(d: OpFacets<A>): OpFacets => d as unknown as OpFacets;
