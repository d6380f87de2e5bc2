/// <reference types="@webgpu/types" preserve="true" />
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeError } from './executor.js';

/**
 * A GPUDevice in Node through Dawn (the `webgpu` package). On machines without a GPU
 * this is Mesa's llvmpipe Vulkan driver; `scripts/ensure-vulkan.sh` installs it.
 */
export async function nodeGPU(): Promise<GPU> {
  if (!process.env['XDG_RUNTIME_DIR']) {
    const dir = join(tmpdir(), `mdc-xdg-${process.getuid?.() ?? 0}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env['XDG_RUNTIME_DIR'] = dir;
  }
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  return create([]) as GPU;
}

export interface DeviceInfo {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  readonly description: string;
}

/**
 * Dawn's instance must outlive every device made from it. Nothing in the WebGPU API
 * keeps the `GPU` object alive once requestAdapter returns, so without this the
 * garbage collector frees the instance under a live device and Dawn aborts later
 * (pthread_mutex_lock assertions, "futex facility" errors) at a random dispatch.
 */
const owners = new WeakMap<GPUDevice, { gpu: GPU; adapter: GPUAdapter }>();

export async function nodeDevice(): Promise<DeviceInfo> {
  const gpu = await nodeGPU();
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    throw new Error('no WebGPU adapter found: on Debian run scripts/ensure-vulkan.sh (Mesa llvmpipe from bookworm-backports), or use a machine with a GPU');
  }
  const device = await requestDevice(adapter);
  owners.set(device, { gpu, adapter });
  return { adapter, device, description: describeAdapter(adapter) };
}

/**
 * The most devices `nodeDevices` makes. Each device compiles every kernel again, and
 * llvmpipe's JIT runs out of code memory somewhere past a hundred: the 3-kernel MLP ran
 * on 100 devices, aborted on 120 ("Unable to allocate section memory") and segfaulted
 * on 127 and 128. Larger models have more kernels, so the cap keeps a margin.
 */
export const MAX_NODE_DEVICES = 64;

/**
 * `n` devices of one adapter, for a partitioned plan (at most MAX_NODE_DEVICES). WebGPU lets an adapter make only
 * one device, so each device gets its own adapter object from one shared instance;
 * they all name the same physical adapter.
 */
export async function nodeDevices(n: number): Promise<{ readonly devices: GPUDevice[]; readonly description: string }> {
  if (!Number.isInteger(n) || n < 1 || n > MAX_NODE_DEVICES)
    throw new RuntimeError(`${n} devices asked for; this machine's adapter is run as 1 to ${MAX_NODE_DEVICES} devices (each compiles every kernel again)`);
  const gpu = await nodeGPU();
  const devices: GPUDevice[] = [];
  let description = '';
  try {
    for (let i = 0; i < n; i++) {
      const adapter = await gpu.requestAdapter();
      if (!adapter)
        throw new Error('no WebGPU adapter found: on Debian run scripts/ensure-vulkan.sh (Mesa llvmpipe from bookworm-backports), or use a machine with a GPU');
      description ||= describeAdapter(adapter);
      const device = await requestDevice(adapter);
      owners.set(device, { gpu, adapter });
      devices.push(device);
    }
  } catch (e) {
    for (const d of devices) d.destroy();
    throw e;
  }
  return { devices, description };
}

/**
 * Asks for the adapter's largest buffer limits (model weights exceed the 128 MiB default
 * binding size) and for `subgroups` where the adapter has it, so that plans compiled for
 * this adapter's target (codegen `KernelTarget.subgroupSize`) run on the device.
 */
export async function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  return adapter.requestDevice({
    requiredFeatures: (['subgroups', 'shader-f16'] as const).filter((f) => adapter.features.has(f)),
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
      // Values over the binding limit are bound as several windows (plan version 5), which takes more bindings per kernel.
      maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
    },
  });
}

/**
 * The subgroup size to compile for on this adapter: only when it offers `subgroups` and
 * its subgroups have one size (llvmpipe: 8), since the subgroup kernels are specialised to it.
 */
export function adapterSubgroupSize(adapter: GPUAdapter): number | undefined {
  if (!adapter.features.has('subgroups')) return undefined;
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  return info.subgroupMinSize && info.subgroupMinSize === info.subgroupMaxSize ? info.subgroupMinSize : undefined;
}

export function describeAdapter(adapter: GPUAdapter): string {
  const i = adapter.info;
  return [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') || 'unknown adapter';
}

export { readCheckpoint, visitCheckpoint, writeCheckpoint, type WriteCheckpointOptions } from './checkpoint-node.js';
export { loadWeights, readWeightsMap, saveWeights, type SaveWeightsOptions } from './weights-node.js';
