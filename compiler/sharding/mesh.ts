import type { Span } from '../../diagnostics/span.js';
import type { Env } from '../bind.js';
import { dimValue } from '../dims.js';
import { printType, type Layout, type TType } from '../types.js';
import { meshDevices } from '../../layout/mesh.js';

/**
 * A device mesh: named axes in order. Devices are numbered row-major over the axes, so
 * on `[dp: 2, tp: 4]` device 5 has coordinates dp = 1, tp = 1; the arithmetic on meshes
 * and layouts (coordinates, groups, local shapes, block starts) is in layout/mesh.ts.
 */
export interface Mesh {
  /** `span`: where the source declares the axis (a mesh from `--mesh` has none). */
  readonly axes: readonly { readonly name: string; readonly size: number; readonly span?: Span }[];
}

/** The mesh of a file's environment (its meshes, or `--mesh`'s axes), each axis the source declares with its span. */
export function meshOfEnv(env: Pick<Env, 'meshAxes' | 'axisMesh' | 'meshes'>): Mesh {
  return {
    axes: [...env.meshAxes].map(([name, size]) => {
      const span = env.meshes.get(env.axisMesh.get(name) ?? '')?.axes.find((a) => a.name.name === name)?.name.span;
      return { name, size, ...(span ? { span } : {}) };
    }),
  };
}

export function meshToString(m: Mesh): string {
  return `[${m.axes.map((a) => `${a.name}: ${a.size}`).join(', ')}]`;
}

// ---------------------------------------------------------------- layouts

export const replicated = (rank: number): Layout => ({ axes: Array.from({ length: rank }, () => []), partial: [] });

/** A layout with one axes list per dim (absent layouts are fully replicated). */
export function normLayout(l: Layout | undefined, rank: number): Layout {
  if (!l) return replicated(rank);
  return { axes: Array.from({ length: rank }, (_, i) => [...(l.axes[i] ?? [])]), partial: [...l.partial] };
}

/**
 * The layout without the mesh's size-1 axes: a split into one block, or a sum over one
 * device, is no split and no sum, so it must never cost a collective.
 */
export function withoutUnitAxes(m: Mesh, l: Layout): Layout {
  const unit = new Set(m.axes.filter((a) => a.size === 1).map((a) => a.name));
  if (!unit.size) return l;
  return { axes: l.axes.map((a) => a.filter((x) => !unit.has(x))), partial: l.partial.filter((x) => !unit.has(x)) };
}

export const layoutKey = (l: Layout): string => `${l.axes.map((a) => a.join(',')).join('|')}/${l.partial.join(',')}`;
export const isReplicated = (l: Layout): boolean => l.partial.length === 0 && l.axes.every((a) => a.length === 0);

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
  const devices = meshDevices({ axes });
  if (devices > 1 << 20) return `${devices} devices is more than the 1048576 mdc plans for`;
  return { axes };
}
