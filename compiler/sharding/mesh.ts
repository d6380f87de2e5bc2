import { dimValue } from '../dims.js';
import { printType, type Layout, type TType } from '../types.js';

/**
 * A device mesh: named axes in order. Devices are numbered row-major over the axes, so
 * on `[dp: 2, tp: 4]` device 5 has coordinates dp = 1, tp = 1.
 */
export interface Mesh {
  readonly axes: readonly { readonly name: string; readonly size: number }[];
}

export const meshDevices = (m: Mesh): number => m.axes.reduce((n, a) => n * a.size, 1);

export function axisSize(m: Mesh, axis: string): number {
  const a = m.axes.find((x) => x.name === axis);
  if (!a) throw new Error(`mesh has no axis '${axis}'`);
  return a.size;
}

export function meshToString(m: Mesh): string {
  return `[${m.axes.map((a) => `${a.name}: ${a.size}`).join(', ')}]`;
}

/** Coordinates of a device along each axis, by axis name. */
export function coordsOf(m: Mesh, device: number): Record<string, number> {
  const c: Record<string, number> = {};
  for (let i = m.axes.length - 1; i >= 0; i--) {
    const a = m.axes[i]!;
    c[a.name] = device % a.size;
    device = Math.floor(device / a.size);
  }
  return c;
}

export function deviceOf(m: Mesh, coords: Readonly<Record<string, number>>): number {
  let d = 0;
  for (const a of m.axes) d = d * a.size + (coords[a.name] ?? 0);
  return d;
}

/** The devices that differ from `device` only along `axis`, ordered by their coordinate on it. */
export function groupOf(m: Mesh, device: number, axis: string): number[] {
  const c = coordsOf(m, device);
  return Array.from({ length: axisSize(m, axis) }, (_, i) => deviceOf(m, { ...c, [axis]: i }));
}

// ---------------------------------------------------------------- layouts

export const replicated = (rank: number): Layout => ({ axes: Array.from({ length: rank }, () => []), partial: [] });

/** A layout with one axes list per dim (absent layouts are fully replicated). */
export function normLayout(l: Layout | undefined, rank: number): Layout {
  if (!l) return replicated(rank);
  return { axes: Array.from({ length: rank }, (_, i) => [...(l.axes[i] ?? [])]), partial: [...l.partial] };
}

export const layoutKey = (l: Layout): string => `${l.axes.map((a) => a.join(',')).join('|')}/${l.partial.join(',')}`;
export const isReplicated = (l: Layout): boolean => l.partial.length === 0 && l.axes.every((a) => a.length === 0);

export const splitCount = (m: Mesh, axes: readonly string[]): number => axes.reduce((n, a) => n * axisSize(m, a), 1);

/** Global shape → the shape each device holds. */
export function localShape(m: Mesh, shape: readonly number[], l: Layout): number[] {
  return shape.map((s, i) => s / splitCount(m, l.axes[i] ?? []));
}

/** Which block of dim `dim` a device holds: a mixed-radix number over the dim's axes, major first. */
export function blockIndex(m: Mesh, l: Layout, dim: number, coords: Readonly<Record<string, number>>): number {
  let idx = 0;
  for (const a of l.axes[dim] ?? []) idx = idx * axisSize(m, a) + coords[a]!;
  return idx;
}

export function withLayout(t: TType, l: Layout): TType {
  return { dtype: t.dtype, dims: t.dims, ...(isReplicated(l) ? {} : { layout: l }) };
}

export const printWithLayout = (t: TType, l: Layout): string => printType(withLayout(t, l));

export function shapeOf(t: TType): number[] {
  return t.dims.map((d) => dimValue(d)!);
}

const BYTES: Record<string, number> = { f32: 4, f16: 2, bf16: 2, i32: 4, bool: 4 };
export const dtypeBytes = (dtype: string): number => BYTES[dtype] ?? 4;

/** `dp=2,tp=4` → a mesh; undefined with a reason when malformed. */
export function parseMeshSpec(spec: string): Mesh | string {
  const axes: { name: string; size: number }[] = [];
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*[=:]\s*(\d+)$/.exec(part);
    if (!m) return `'${part}' is not name=size`;
    const size = Number(m[2]);
    if (!Number.isSafeInteger(size) || size < 1) return `axis '${m[1]}' must have a size of at least 1`;
    if (axes.some((a) => a.name === m[1])) return `axis '${m[1]}' is given twice`;
    axes.push({ name: m[1]!, size });
  }
  if (!axes.length) return 'no axes given';
  const devices = axes.reduce((n, a) => n * a.size, 1);
  if (devices > 1 << 20) return `${devices} devices is more than the 1048576 mdc plans for`;
  return { axes };
}
