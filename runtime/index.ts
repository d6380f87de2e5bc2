export * from './plan.js';
export { validatePlan, PlanError } from './validate.js';
export { initValues, randomInput } from './init.js';
export { fromHalfBits, fromHalves, toHalfBits, toHalves } from './half.js';
export { PlanRunner, RuntimeError, type HostArray, type Tensor, type RunnerOptions, type PlanKernels } from './executor.js';
export { MeshRunner } from './mesh.js';
export { assemble, coordsOf, groupsOf, localShape, runCollective, shardOf } from './collectives.js';
export { CHECKSUM, CheckpointError, crc32, decodeCheckpoint, encodeCheckpoint, encodeParts, MAX_HEADER_BYTES } from './checkpoint.js';
export type { Checkpoint, CheckpointData, CheckpointDType, CheckpointTensor, CheckpointTensors, DecodeOptions } from './checkpoint.js';
