export * from './plan.js';
export { validatePlan, PlanError } from './validate.js';
export { initValues, randomInput } from './init.js';
export { PlanRunner, RuntimeError, type HostArray, type Tensor, type RunnerOptions } from './executor.js';
