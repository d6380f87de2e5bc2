import type { Graph } from '../ir.js';
import type { Mesh } from '../sharding/mesh.js';

/**
 * The data-parallel axes, which ZeRO splits optimizer state (and more) over: the mesh axes
 * of more than one device that split the leading dim of some model input, read as its
 * batch, in mesh order. Every model input counts, not only the first (a model may take a
 * mask or a scale before its batch). A parameter already split over one of them keeps that
 * split (addAxes), as expert weights do over an expert-parallel axis that also splits tokens.
 * Pass the mesh the step is partitioned over: size-1 axes split nothing.
 */
export function dataParallelAxes(g: Graph, mesh?: Mesh): string[] {
  const batch = [...new Set(g.inputs.flatMap((id) => g.values[id]!.type.layout?.axes[0] ?? []))];
  // Without the mesh (a caller that has none at hand), every such axis, in input order.
  return mesh ? mesh.axes.filter((a) => a.size > 1 && batch.includes(a.name)).map((a) => a.name) : batch;
}
