import { dimConst, dimValue } from '../../compiler/dims.js';
import type { Graph, Node, Value } from '../../compiler/ir.js';
import type { DType } from '../../compiler/types.js';
import type { Access, BindingWindow, StorageType } from '../../runtime/plan.js';
import { vec, type BufferDecl, type Expr, type Kernel } from '../kir/ir.js';
import { Block, bufferRef, flatGrid } from '../kir/build.js';
import type { MatmulConfig, TuningTable } from './matmul/config.js';
import { numel } from '../../layout/mesh.js';

/** One generated kernel before it is deduplicated into the plan. */
export interface KernelSpec {
  readonly name: string;
  readonly wgsl: string;
  readonly workgroupSize: readonly [number, number, number];
  readonly dispatch: readonly [number, number, number];
  /** One binding per storage buffer (one per window of a windowed value: KernelTarget.windowed), bound to IR values. */
  readonly bindings: readonly {
    readonly name: string;
    readonly access: Access;
    readonly type: StorageType;
    readonly value: number;
    readonly window?: BindingWindow;
  }[];
  /** WebGPU features the device must have enabled (`subgroups`, `shader-f16`). */
  readonly features?: readonly string[];
}

/**
 * What code generation may assume about the device, and the tile choices to make. The
 * empty target (the default) assumes nothing beyond WebGPU's default limits and uses the
 * default tiles, so `mdc compile` is the same on every machine.
 */
export interface KernelTarget {
  /** The device's subgroup size when it offers `subgroups` (min = max): enables the subgroup kernels. */
  readonly subgroupSize?: number;
  /** Tile configurations per shape class, from an autotuning run (codegen/tune). */
  readonly tuning?: TuningTable;
  /** One matmul configuration for every matmul (tests, the tuner), where it is valid for the shape. */
  readonly matmul?: MatmulConfig;
  /**
   * Row kernels (reductions over the last axis, norms, softmax, fused rows bodies): rows
   * of fewer units (elements, or groups of four) than this take one invocation each
   * instead of a workgroup (default ROW_PER_INVOCATION_UNITS, rows.ts; tuned per adapter).
   */
  readonly rowUnits?: number;
  /**
   * The device offers `shader-f16`: f16 tensors between kernels that convert (matmuls,
   * element-wise ops, fused bodies, row kernels, attention, embedding and the layout
   * copies: codegen/kernels/index.ts storesHalf), and f16 parameters only they read, are
   * stored as f16 (see codegen/plan.ts f16Values).
   */
  readonly shaderF16?: boolean;
  /** Set by the plan builder: the values stored as f16, which the WGSL printer converts on load and store. */
  readonly f16Values?: ReadonlySet<number>;
  /**
   * Set by the plan builder: the values placed in an arena. Every binding of them is
   * declared read_write, since WebGPU refuses a buffer bound read-only and writable in
   * one dispatch, and an arena holds what a kernel reads beside what it writes.
   */
  readonly arenaValues?: ReadonlySet<number>;
  /**
   * The device's maxStorageBufferBindingSize: a value larger than this is bound as several
   * windows (runtime/plan.ts bindingWindows). Default DEFAULT_MAX_BINDING_BYTES (128 MiB).
   */
  readonly maxBindingBytes?: number;
  /**
   * The device's maxStorageBuffersPerShaderStage: how many bindings a kernel may have once
   * windowed values take one per window. Default 8, WebGPU's default (llvmpipe offers 16).
   */
  readonly maxStorageBuffers?: number;
  /** Set by the plan builder: the values over maxBindingBytes, each with its windows; the printer picks the window per access. */
  readonly windowed?: ReadonlyMap<number, readonly BindingWindow[]>;
  /** Set by the plan builder for a partitioned plan: the mesh, and where each value lies in its whole tensor. */
  readonly spmd?: KernelSpmd;
}

/**
 * A kernel would need more storage bindings than the target allows once its values over
 * the binding limit take one binding per window. The plan builder adds where the node is
 * (`at`: its source line and column), so that the driver can report it there.
 */
export class BindingCountError extends Error {
  override name = 'BindingCountError';
  constructor(
    message: string,
    readonly at?: { readonly line: number; readonly col: number },
  ) {
    super(message);
  }
}

/**
 * What a kernel of a partitioned plan may know about the mesh. Every device runs the
 * same kernels, so a kernel that needs the device's position (training dropout, which
 * draws its mask by global index) binds MESH_COORDS, which each runner fills with its
 * device's coordinates, and works out its block's offsets from them and the layout.
 */
export interface KernelSpmd {
  /** The mesh axes, in the order of the coordinates buffer. */
  readonly axes: readonly { readonly name: string; readonly size: number }[];
  /** A value's whole shape, and per dim the mesh axes that split it (major first). */
  globalOf(valueId: number): { readonly shape: readonly number[]; readonly layout: { readonly axes: readonly (readonly string[])[] } };
}

/**
 * The binding value (not a graph value) of the device's mesh coordinates: one i32 per
 * mesh axis, in the mesh's order. The plan gives it a buffer of role `coords`
 * (runtime/plan.ts) that each runner fills for its device.
 */
export const MESH_COORDS = -1;

/** The stand-in graph value a kernel binds MESH_COORDS through, on a mesh of `axes` axes. */
export const meshCoordsValue = (axes: number): Value => ({ id: MESH_COORDS, kind: 'const', type: { dtype: 'i32', dims: [dimConst(axes)] } });

export type KernelGen = (node: Node, g: Graph, target: KernelTarget) => KernelSpec | readonly KernelSpec[];

/** How a dtype is stored on the device unless the plan stores it as f16: f16 and bf16 as f32, bool as i32. */
export const storageScalar = (d: DType): 'f32' | 'i32' => (d === 'i32' || d === 'bool' ? 'i32' : 'f32');
export const storageOf = (v: Value): StorageType => storageScalar(v.type.dtype);
export const shapeOf = (v: Value): number[] =>
  v.type.dims.map((d) => {
    const n = dimValue(d);
    if (n === undefined) throw new Error('codegen needs concrete shapes');
    return n;
  });

export const WG = 256;

export interface BindingDecl<N extends string = string> {
  readonly name: N;
  readonly access: Access;
  readonly value: Value;
}
export const read = <N extends string>(name: N, value: Value): BindingDecl<N> => ({ name, access: 'read', value });
export const write = <N extends string>(name: N, value: Value): BindingDecl<N> => ({ name, access: 'read_write', value });

/** A binding as the kernel IR declares it: `w` elements of its storage scalar wide (the printer reads and writes f16 storage of it). */
export const bufferOf = (b: BindingDecl, w: 1 | 4 = 1): BufferDecl => {
  const s = storageScalar(b.value.type.dtype);
  return { name: b.name, access: b.access, elem: w === 4 ? vec(4, s) : s, storage: storageOf(b.value), value: b.value.id };
};

/**
 * A kernel-IR kernel of one invocation per element of `n` in workgroups of `wg`: `body`
 * gets the block, the flat index `i` (flatGrid: invocations past n have returned) and
 * the buffers by binding name.
 */
export function flatKernel<N extends string>(
  name: string,
  doc: string,
  binds: readonly BindingDecl<N>[],
  n: number,
  body: (b: Block, i: Expr, buf: Readonly<Record<N, Expr>>) => void,
  wg = WG,
): Kernel {
  const buffers = binds.map((d) => bufferOf(d));
  const b = new Block();
  const { index, dispatch } = flatGrid(b, 'i', n, wg);
  body(b, index, Object.fromEntries(buffers.map((d) => [d.name, bufferRef(d)])) as Record<N, Expr>);
  return { name, doc: [doc], enables: [], consts: [], buffers, shared: [], workgroupSize: [wg, 1, 1], dispatch, body: b.stmts };
}

/** outer × axis × inner view of a shape around one axis, for reductions. */
export function aroundAxis(shape: readonly number[], axis: number) {
  return {
    outer: numel(shape.slice(0, axis)),
    len: shape[axis]!,
    inner: numel(shape.slice(axis + 1)),
  };
}
