/**
 * One document's analysis: the diagnostics `mdc check` reports (the same pipeline, so the
 * same codes and spans) and the position index with the checker's values. Free of Node
 * modules, so the server runs in a browser worker too.
 */
import type { CheckResult } from '../compiler/compile.js';
import type { Val } from '../compiler/elaborate.js';
import type { GraphBuilder } from '../compiler/ir.js';
import type * as A from '../grammar/ast.js';
import type { Diagnostic } from '../diagnostics/messages.js';
import { BOM } from '../diagnostics/span.js';
import { compile } from '../driver/compile.js';
import { buildIndex, type DocIndex } from './index.js';

export interface Analysis {
  readonly version: number;
  readonly text: string;
  readonly diagnostics: readonly Diagnostic[];
  readonly checked: CheckResult;
  readonly index: DocIndex;
  /** Spans are offsets into the text without a byte-order mark: add this to get the document's offsets. */
  readonly bom: number;
}

export async function analyze(text: string, file: string, version: number): Promise<Analysis> {
  // The index is built from check()'s own syntax tree, so the values it is told wait until check() returns.
  const told: [A.Node, Val, GraphBuilder][] = [];
  const r = await compile(text, file, { until: 'check', observe: (node, v, builder) => told.push([node, v, builder]) });
  const index = buildIndex(r.checked.parsed.program);
  for (const [node, v, builder] of told) index.observe(node, v, builder);
  return { version, text, diagnostics: r.diagnostics, checked: r.checked, index, bom: text.startsWith(BOM) ? 1 : 0 };
}
