import type { PipelineAnnotation } from '../compiler/annotations.js';
import type { Mesh } from '../compiler/sharding/mesh.js';

/**
 * The mesh's pipeline axis when `ann` pipelines over it; undefined when the model has no
 * pipelined stack or the mesh has no such axis (then its stages all run on each device
 * group, as one program: the same computation without the pipeline). Apart from
 * driver/pipeline.ts so that the front half does not load the pipeline's back end.
 */
export const pipelineAxisOf = (ann: PipelineAnnotation | undefined, mesh: Mesh | undefined): string | undefined =>
  ann && mesh?.axes.some((a) => a.name === ann.axis) ? ann.axis : undefined;
