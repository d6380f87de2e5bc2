/**
 * The cross-checks' ONNX export is mdc's own exporter (compiler/onnx/export.ts, which
 * `mdc export --target onnx` runs): ONNX Runtime then executes the graph with none of
 * mdc's kernels or its oracle, so a disagreement points at one of those or at a mapping.
 */
import type { Graph } from '../../compiler/ir.js';
import { exportOnnx, ONNX_OPSET } from '../../compiler/onnx/export.js';

export const OPSET = ONNX_OPSET;

export interface OnnxExport {
  /** The serialised ModelProto. */
  readonly bytes: Uint8Array;
  /** ONNX operator types used, in order of first use (for assertions on the structure). */
  readonly opTypes: readonly string[];
}

/** mdc graph → ONNX model; throws with the diagnostics when an op does not map. */
export function graphToOnnx(g: Graph, params: ReadonlyMap<string, Float32Array>): OnnxExport {
  const r = exportOnnx(g, params, { producer: 'mdc-test' });
  if (!r.bytes) throw new Error(`ONNX export: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  return { bytes: r.bytes, opTypes: r.opTypes };
}
