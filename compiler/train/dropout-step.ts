import { extendGraph, type Graph, type GraphBuilder, type Node, type Value } from '../ir.js';

/**
 * The name of the training step's dropout counter: an i32 scalar input that every training
 * dropout reads (as its input 1), so that each run of the step draws new masks. The host
 * passes (t − 1)·microbatches + i for micro-batch i of 1-based step t (runtime/train.ts
 * Trainer, runtime/pipeline.ts PipelineRunner), so a resumed run draws the masks of an
 * uninterrupted one. The runtime spells the name out (it imports nothing of the compiler).
 */
export const DROPOUT_STEP = 'dropout_step';

/** Whether a node is a dropout that draws a mask (training, p > 0). */
const drawsMask = (n: Node) => n.op === 'dropout' && n.attrs['training'] === true && (n.attrs['p'] as number) > 0;

/**
 * An `extendGraph` replacement (for a copy of `g`) that makes each training dropout also read the counter
 * input, added the first time one is met; node ids stay as they were. A dropout that reads
 * a counter already (a graph this ran on) is copied as it is.
 */
export function dropoutStepReplacer(g: Graph): (n: Node, b: GraphBuilder, map: Map<number, Value>) => boolean {
  let counter: Value | undefined;
  return (n, b, map) => {
    if (!drawsMask(n) || n.inputs.length > 1) return false;
    counter ??= b.addValue({ type: { dtype: 'i32', dims: [] }, kind: 'input', name: DROPOUT_STEP });
    const outs = b.addNode(n.op, [map.get(n.inputs[0]!)!, counter], [g.values[n.outputs[0]!]!.type], n.attrs, n.span, n.scope, n.body);
    map.set(n.outputs[0]!, outs[0]!);
    return true;
  };
}

/** `g` with the dropout counter input read by every training dropout (unchanged, but copied, when it has none). */
export function withDropoutStep(g: Graph): Graph {
  const { builder, map } = extendGraph(g, undefined, dropoutStepReplacer(g));
  return builder.finish(
    g.name,
    g.outputs.map((o) => map.get(o)!),
    [...g.outputNames],
  );
}
