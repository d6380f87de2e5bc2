export * from './plan.js';
export { validatePlan, PlanError } from './validate.js';
export { initValues, randomInput } from './init.js';
export { fromHalfBits, fromHalves, toHalfBits, toHalves } from './half.js';
export { PlanRunner, RuntimeError, type HostArray, type Tensor, type RunnerOptions, type PlanKernels } from './executor.js';
export { HostModel, checkpointParams, type LoadOptions } from './host-model.js';
export { SizeError, type RunSizes, type SizeDim } from './dynamic-sizes.js';
export { MeshRunner } from './mesh.js';
export { assemble, runCollective, shardOf } from './collectives.js';
export { coordsOf, groupsOf, localShape, numel } from '../layout/mesh.js';
export { CHECKSUM, CheckpointError, crc32, decodeCheckpoint, encodeCheckpoint, encodeParts, MAX_HEADER_BYTES } from './checkpoint.js';
export type { Checkpoint, CheckpointData, CheckpointDType, CheckpointTensor, CheckpointTensors, DecodeOptions } from './checkpoint.js';
export { exportWeights, importWeights, planImport, resolveWeightsMap, type ExportOptions, type FileDType, type WeightsModel } from './weights.js';
export { parseWeightsMap, WeightsError, WEIGHTS_MAP_PRESETS, type WeightsMap, type WeightsMapEntry } from './weights-map.js';
export {
  ArrayDataset,
  Trainer,
  TrainError,
  classificationMetrics,
  learningRate,
  meanSquaredError,
  METRICS,
  type EvalResult,
  type ForwardRunner,
  type LrSchedule,
  type MetricName,
  type StepRunner,
  type Task,
  type TrainerCallbacks,
  type TrainerOptions,
} from './trainer.js';
export { InferenceSession, generateOptions, pickToken, seededUniform, type GenerateOptions, type InferencePlans } from './generate.js';
export {
  actionInputs,
  advantages,
  gae,
  ppo,
  sessionSampler,
  trained,
  type ForwardGraphRunner,
  type GraphRunner,
  type PpoIteration,
  type PpoOptions,
  type RewardFn,
  type Sampler,
  type TrainRunner,
} from './rlhf.js';
// Tokenizers are their own entry, mdc/runtime/tokenizer: they import @huggingface/tokenizers,
// and this entry loads in a browser as plain ES modules, with no bundler to resolve a package.
