/**
 * Layout and mesh arithmetic shared by the compiler, its CPU simulation, codegen and the
 * runtime: row-major strides and element counts, device coordinates on a mesh, the
 * device groups of an axis, and the block of a tensor each device holds under a block
 * layout. It imports nothing, and works on structural types so that the compiler's
 * `Mesh`/`Layout` and the runtime's `PlanMesh`/`PlanLayout` both fit.
 *
 * Devices are numbered row-major over the mesh axes: on `[dp: 2, tp: 4]` device 5 has
 * coordinates dp = 1, tp = 1.
 */

/** A device mesh: named axes in order. */
export interface MeshAxes {
  readonly axes: readonly { readonly name: string; readonly size: number }[];
}

/** A block layout: the mesh axes each dim is split over (major first), and the axes holding pending sums. */
export interface BlockLayout {
  readonly axes: readonly (readonly string[])[];
  readonly partial: readonly string[];
}

/** The number of elements of a shape (1 for a scalar `[]`). */
export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Row-major strides of a shape, in elements (the last dim's is 1). */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

/** The number of devices: the product of the axis sizes. */
export const meshDevices = (m: MeshAxes): number => m.axes.reduce((n, a) => n * a.size, 1);

export function axisSize(m: MeshAxes, axis: string): number {
  const a = m.axes.find((x) => x.name === axis);
  if (!a) throw new Error(`mesh has no axis '${axis}'`);
  return a.size;
}

/** Coordinates of a device along each axis, by axis name. */
export function coordsOf(m: MeshAxes, device: number): Record<string, number> {
  const c: Record<string, number> = {};
  for (let i = m.axes.length - 1; i >= 0; i--) {
    const a = m.axes[i]!;
    c[a.name] = device % a.size;
    device = Math.floor(device / a.size);
  }
  return c;
}

/** The device at `coords` (a missing axis counts as coordinate 0). */
export function deviceOf(m: MeshAxes, coords: Readonly<Record<string, number>>): number {
  let d = 0;
  for (const a of m.axes) d = d * a.size + (coords[a.name] ?? 0);
  return d;
}

/** The devices that differ from `device` only along `axis`, ordered by their coordinate on it. */
export function groupOf(m: MeshAxes, device: number, axis: string): number[] {
  const c = coordsOf(m, device);
  return Array.from({ length: axisSize(m, axis) }, (_, i) => deviceOf(m, { ...c, [axis]: i }));
}

/** The device groups of `axis`, which partition the devices: each ordered by its coordinate on the axis, the groups by their first device. */
export function groupsOf(m: MeshAxes, axis: string): number[][] {
  axisSize(m, axis); // throws for an axis the mesh does not have
  const out: number[][] = [];
  for (let d = 0; d < meshDevices(m); d++) if (coordsOf(m, d)[axis] === 0) out.push(groupOf(m, d, axis));
  return out;
}

/** How many blocks a dim split over `axes` has. */
export const splitCount = (m: MeshAxes, axes: readonly string[]): number => axes.reduce((n, a) => n * axisSize(m, a), 1);

/** Global shape → the shape of the block each device holds. */
export function localShape(m: MeshAxes, shape: readonly number[], l: BlockLayout): number[] {
  return shape.map((s, i) => s / splitCount(m, l.axes[i] ?? []));
}

/** Which block of dim `dim` a device holds: a mixed-radix number over the dim's axes, major first. */
export function blockIndex(m: MeshAxes, l: BlockLayout, dim: number, coords: Readonly<Record<string, number>>): number {
  let idx = 0;
  for (const a of l.axes[dim] ?? []) idx = idx * axisSize(m, a) + coords[a]!;
  return idx;
}

/** Where the block of `device` starts in the whole tensor, given the block's shape `local` (from `localShape`). */
export function blockStart(m: MeshAxes, l: BlockLayout, local: readonly number[], device: number): number[] {
  const c = coordsOf(m, device);
  return local.map((s, d) => blockIndex(m, l, d, c) * s);
}
