/**
 * The playground page: the editor (diagnostics as you type from the language server,
 * lsp/server.ts, in a web worker), Run (compile in the compiler's worker to a plan, run
 * it on this page's WebGPU), the outputs as
 * `mdc run` prints them and the plan's pictures. The page's state is also on
 * `document.body.dataset.state` (`checking`, `compiling`, `running`, `ran`, `diagnostics`, `failed`).
 */
import sample from '../../samples/mlp.model?raw';
import type { Diagnostic as LspDiagnostic } from 'vscode-languageserver-protocol/browser';
import { escapeControls, formatDiagnostic } from '../../diagnostics/format.js';
import type { Diagnostic } from '../../diagnostics/messages.js';
import { CompilerClient } from './client.js';
import { createEditor, showDiagnostics as showEditorDiagnostics } from './editor.js';
import { LspClient } from './lsp-client.js';
import { runPlan, type RunResult } from './run.js';
import { formatBytes, renderPlan } from './summary.js';

const FILE = 'playground.model';
const URI = `inmemory://playground/${FILE}`;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const diagnosticsList = $('diagnostics');
const output = $('output');
const planHost = $('plan');
const runButton = $<HTMLButtonElement>('run');
const presetInput = $<HTMLInputElement>('preset');
const seedInput = $<HTMLInputElement>('seed');

const setState = (state: string, text: string) => {
  document.body.dataset['state'] = state;
  status.textContent = text;
};

interface ListedDiagnostic {
  readonly code: string;
  readonly line: number;
  readonly col: number;
  /** As `mdc check` prints its first line: `file:line:col: error MDCxxxx: message`. */
  readonly text: string;
}

const SEVERITY = { 1: 'error', 2: 'warning', 3: 'info', 4: 'hint' } as const;
const fromLsp = (d: LspDiagnostic): ListedDiagnostic => {
  const [line, col] = [d.range.start.line + 1, d.range.start.character + 1];
  const code = String(d.code ?? '');
  return { code, line, col, text: escapeControls(`${FILE}:${line}:${col}: ${SEVERITY[d.severity ?? 1]} ${code}: ${d.message}`) };
};
const fromCompiler = (d: Diagnostic): ListedDiagnostic => ({ code: d.code, line: d.span.line, col: d.span.col, text: formatDiagnostic(d) });

/** The diagnostics under the editor; `source` (the list's data-source) says who reported them. */
function showList(diags: readonly ListedDiagnostic[], source: 'lsp' | 'compiler') {
  diagnosticsList.dataset['source'] = source;
  diagnosticsList.replaceChildren(
    ...diags.map((d) => {
      const li = document.createElement('li');
      li.textContent = d.text;
      li.dataset['code'] = d.code;
      li.dataset['line'] = String(d.line);
      li.dataset['col'] = String(d.col);
      return li;
    }),
  );
}

function showOutputs(r: RunResult) {
  const table = document.createElement('table');
  table.className = 'outputs';
  const head = table.insertRow();
  for (const h of ['output', 'type', 'sum', 'mean |x|', 'first values']) head.appendChild(document.createElement('th')).textContent = h;
  for (const o of r.outputs) {
    const row = table.insertRow();
    row.dataset['name'] = o.name;
    row.dataset['sum'] = String(o.sum);
    row.dataset['first'] = JSON.stringify(o.first);
    const cells = [o.name, o.type, o.sum.toPrecision(8), o.meanAbs.toPrecision(6), o.first.map((x) => x.toPrecision(5)).join(', ')];
    for (const c of cells) row.insertCell().textContent = c;
    if (o.nonFinite) row.insertCell().textContent = `${o.nonFinite} values not finite`;
  }
  const note = document.createElement('p');
  note.textContent =
    `on ${r.adapter}: kernels created in ${r.createMs.toFixed(0)} ms, forward pass ${r.runMs.toFixed(1)} ms, ` +
    `${formatBytes(r.deviceBytes)} of device memory`;
  output.replaceChildren(table, note);
}

const client = new CompilerClient(new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }));
const options = () => ({ ...(presetInput.value.trim() ? { preset: presetInput.value.trim() } : {}), seed: Number(seedInput.value) || 0 });

// Diagnostics as you type come from the language server in its own worker.
setState('checking', 'starting the language server…');
// Hover and completion ask the same server; `lsp` exists by the time anyone hovers or types.
const editor = createEditor(
  $('editor'),
  sample,
  (text) => {
    setState('checking', 'checking…');
    void lsp.change(text);
  },
  { hover: (p) => lsp.hover(p), complete: (p) => lsp.complete(p) },
);
const lsp: LspClient = new LspClient(new Worker(new URL('./lsp-worker.ts', import.meta.url), { type: 'module' }), URI, sample, (diags) => {
  showEditorDiagnostics(editor, diags);
  showList(diags.map(fromLsp), 'lsp');
  setState(diags.length ? 'diagnostics' : 'checked', diags.length ? `${diags.length} diagnostics` : 'no problems');
});

async function run() {
  runButton.disabled = true;
  try {
    setState('compiling', 'compiling…');
    const opts = options();
    const r = await client.request({ kind: 'plan', source: editor.state.doc.toString(), file: FILE, ...opts });
    if (r.diagnostics.length) showList(r.diagnostics.map(fromCompiler), 'compiler');
    if (r.error) return setState('failed', `the compiler failed: ${r.error}`);
    if (!r.plan) return setState('diagnostics', `${r.diagnostics.length} diagnostics: fix them to run`);
    renderPlan(planHost, r.plan);
    setState('running', `compiled in ${r.ms.toFixed(0)} ms; running on WebGPU…`);
    const result = await runPlan(r.plan, opts.seed);
    showOutputs(result);
    setState('ran', `ran ${r.plan.model} (seed ${opts.seed}): compiled in ${r.ms.toFixed(0)} ms, ran in ${(result.createMs + result.runMs).toFixed(0)} ms`);
  } catch (e) {
    setState('failed', e instanceof Error ? e.message : String(e));
  } finally {
    runButton.disabled = false;
  }
}
runButton.addEventListener('click', () => void run());
