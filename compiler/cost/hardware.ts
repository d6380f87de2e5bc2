/**
 * Hardware descriptions for the step-time model (docs/cost-model.md): what one device computes
 * and holds, and the links between devices, level by level from the innermost (inside a node)
 * outwards. A description is a small JSON file under hardware/ (the driver reads it; this module
 * only checks its shape and answers questions about it), with a handful of numbers taken from
 * vendor datasheets and nothing fitted to a particular model.
 *
 * Mesh axes map onto levels innermost first: the last axis of the mesh is laid out fastest, so
 * the trailing axes whose sizes multiply to at most a node's device count stay inside the node,
 * and an axis that spills past it crosses the next level. A ring over an axis runs at the
 * bandwidth of the slowest level it crosses.
 */
import type { Mesh } from '../sharding/mesh.js';

/** The kinds of kernel whose achievable share of peak compute differs. */
export type KernelKind = 'matmul' | 'attention' | 'elementwise';
export const KERNEL_KINDS: readonly KernelKind[] = ['matmul', 'attention', 'elementwise'];

export interface Link {
  /** A name for reports: nvlink, infiniband, pcie. */
  readonly name: string;
  /** Devices this level joins into one group (a node: 8); the outermost level may leave it out (unbounded). */
  readonly devices?: number;
  /** Bytes per second each device can send on this level, one direction. */
  readonly bandwidth: number;
  /** Seconds per message hop (launch and link latency). */
  readonly latency: number;
  /** The share of `bandwidth` a ring collective reaches (bus bandwidth over the link rate). */
  readonly efficiency: number;
}

export interface Hardware {
  readonly name: string;
  readonly description: string;
  /** Where each number comes from. */
  readonly sources: readonly string[];
  /** Peak dense FLOP/s per dtype (f16, bf16, f32…); a dtype missing here computes at f32's rate. */
  readonly peakFlops: Readonly<Record<string, number>>;
  /** The share of peak each kernel kind reaches on large operands. */
  readonly efficiency: Readonly<Record<KernelKind, number>>;
  /** Device memory in bytes. */
  readonly memoryBytes: number;
  /** Device memory bandwidth in bytes/s, and the share of it streaming kernels reach. */
  readonly memoryBandwidth: number;
  readonly memoryEfficiency: number;
  /** Seconds of fixed cost per kernel launch. */
  readonly kernelLatency: number;
  /**
   * Whether the attention kernels of the software stack write the S×S score matrix to memory
   * (as Megatron-LM did in 2021, before FlashAttention): each attention then also streams the
   * scores four times (written, read and written by the softmax, read by the second product).
   */
  readonly attentionScoresInMemory: boolean;
  /** Link levels, innermost first. */
  readonly links: readonly Link[];
}

/** A description that does not have the documented shape; the message names the field. */
export class HardwareError extends Error {
  override name = 'HardwareError';
}

const positive = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0;
const fraction = (x: unknown): x is number => positive(x) && x <= 1;
const nonNegative = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;

/** Checks a parsed description (`where` names it in messages) and returns it typed. */
export function hardwareFrom(json: unknown, where: string): Hardware {
  const fail = (what: string): never => {
    throw new HardwareError(`${where}: ${what}`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('a hardware description is a JSON object');
  const o = json as Record<string, unknown>;
  if (typeof o['name'] !== 'string' || !o['name']) fail("'name' must be a non-empty string");
  const peak = o['peakFlops'];
  if (typeof peak !== 'object' || peak === null || !Object.keys(peak).length) fail('\'peakFlops\' must map dtypes to FLOP/s, e.g. { "f16": 312e12 }');
  for (const [k, x] of Object.entries(peak as object)) if (!positive(x)) fail(`peakFlops.${k} must be a positive number, got ${JSON.stringify(x)}`);
  if (!positive((peak as Record<string, unknown>)['f32'])) fail('peakFlops must give f32 (the rate of any dtype it does not list)');
  const eff = (o['efficiency'] ?? {}) as Record<string, unknown>;
  for (const k of KERNEL_KINDS) if (!fraction(eff[k])) fail(`efficiency.${k} must be a number in (0, 1], got ${JSON.stringify(eff[k])}`);
  for (const k of ['memoryBytes', 'memoryBandwidth']) if (!positive(o[k])) fail(`'${k}' must be a positive number, got ${JSON.stringify(o[k])}`);
  if (!fraction(o['memoryEfficiency'])) fail(`'memoryEfficiency' must be a number in (0, 1], got ${JSON.stringify(o['memoryEfficiency'])}`);
  if (!nonNegative(o['kernelLatency'])) fail(`'kernelLatency' must be a number ≥ 0 (seconds), got ${JSON.stringify(o['kernelLatency'])}`);
  if (o['attentionScoresInMemory'] !== undefined && typeof o['attentionScoresInMemory'] !== 'boolean') fail("'attentionScoresInMemory' must be true or false");
  const links = o['links'];
  if (!Array.isArray(links) || !links.length) fail("'links' must list at least one link level, innermost first");
  (links as unknown[]).forEach((l, i) => {
    const x = (l ?? {}) as Record<string, unknown>;
    const at = `links[${i}]`;
    if (typeof x['name'] !== 'string') fail(`${at}.name must be a string`);
    if (x['devices'] !== undefined && !(Number.isInteger(x['devices']) && (x['devices'] as number) >= 1)) fail(`${at}.devices must be a whole number ≥ 1`);
    if (x['devices'] === undefined && i < (links as unknown[]).length - 1) fail(`${at}.devices is needed: only the outermost level may leave it out`);
    if (!positive(x['bandwidth'])) fail(`${at}.bandwidth must be a positive number of bytes/s`);
    if (!nonNegative(x['latency'])) fail(`${at}.latency must be a number ≥ 0 (seconds)`);
    if (!fraction(x['efficiency'])) fail(`${at}.efficiency must be a number in (0, 1]`);
  });
  const sources = Array.isArray(o['sources']) ? (o['sources'] as unknown[]).map(String) : [];
  return {
    name: o['name'] as string,
    description: typeof o['description'] === 'string' ? o['description'] : '',
    sources,
    peakFlops: peak as Record<string, number>,
    efficiency: { matmul: eff['matmul'] as number, attention: eff['attention'] as number, elementwise: eff['elementwise'] as number },
    memoryBytes: o['memoryBytes'] as number,
    memoryBandwidth: o['memoryBandwidth'] as number,
    memoryEfficiency: o['memoryEfficiency'] as number,
    kernelLatency: o['kernelLatency'] as number,
    attentionScoresInMemory: o['attentionScoresInMemory'] === true,
    links: links as Link[],
  };
}

/** Peak FLOP/s for a dtype: its own entry, else f32's. */
export const peakOf = (hw: Hardware, dtype: string): number => hw.peakFlops[dtype] ?? hw.peakFlops['f32']!;

/**
 * The link each mesh axis's rings run on. Axes are laid out last-fastest: an axis spans its own
 * size times the sizes of the axes after it, and runs on the first level whose group holds that
 * span (the outermost holds any). When it leaves the level inside it, its ring carries the
 * traffic of k of its devices through each inner group's links (k = its devices per inner group,
 * each with its own port, as a DGX node's eight GPUs have eight InfiniBand adapters), so its
 * bandwidth is k times the level's per-device rate, at most the inner level's.
 */
export function axisLinks(hw: Hardware, mesh: Mesh): Map<string, Link> {
  const out = new Map<string, Link>();
  let inner = 1;
  for (let i = mesh.axes.length - 1; i >= 0; i--) {
    const a = mesh.axes[i]!;
    const span = inner * a.size;
    let level = hw.links.findIndex((l) => l.devices === undefined || span <= l.devices);
    if (level < 0) level = hw.links.length - 1;
    const link = hw.links[level]!;
    if (level === 0) out.set(a.name, link);
    else {
      const within = hw.links[level - 1]!;
      const k = Math.max(1, Math.min(a.size, Math.floor(within.devices! / inner)));
      const bandwidth = Math.min(link.bandwidth * k, within.bandwidth);
      out.set(a.name, { ...link, bandwidth });
    }
    inner = span;
  }
  return out;
}

/** Seconds for a ring collective step that sends `bytes` per device in `hops` messages on `link`. */
export const ringSeconds = (link: Link, bytes: number, hops: number): number =>
  bytes > 0 ? bytes / (link.bandwidth * link.efficiency) + hops * link.latency : 0;
