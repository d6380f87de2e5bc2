/**
 * The playground page: the editor (diagnostics from the worker as you type), Run
 * (compile in the worker to a plan, run it on this page's WebGPU), the outputs as
 * `mdc run` prints them and the plan's pictures. The page's state is also on
 * `document.body.dataset.state` (`checking`, `compiling`, `running`, `ran`, `diagnostics`, `failed`).
 */
import sample from '../../samples/mlp.model?raw';
import { formatDiagnostic } from '../../diagnostics/format.js';
import type { Diagnostic } from '../../diagnostics/messages.js';
import { CompilerClient } from './client.js';
import { createEditor } from './editor.js';
import { runPlan, type RunResult } from './run.js';
import { formatBytes, renderPlan } from './summary.js';

const FILE = 'playground.model';
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

function showDiagnostics(diags: readonly Diagnostic[]) {
  diagnosticsList.replaceChildren(
    ...diags.map((d) => {
      const li = document.createElement('li');
      li.textContent = formatDiagnostic(d);
      li.dataset['code'] = d.code;
      li.dataset['line'] = String(d.span.line);
      li.dataset['col'] = String(d.span.col);
      return li;
    }),
  );
  diagnosticsList.dataset['count'] = String(diags.length);
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

const editor = createEditor($('editor'), sample, async (source) => {
  setState('checking', 'checking…');
  const r = await client.request({ kind: 'check', source, file: FILE, ...options() });
  showDiagnostics(r.diagnostics);
  if (r.error) setState('failed', `the compiler failed: ${r.error}`);
  else
    setState(
      r.diagnostics.length ? 'diagnostics' : 'checked',
      r.diagnostics.length ? `${r.diagnostics.length} diagnostics` : `no problems (checked in ${r.ms.toFixed(0)} ms)`,
    );
  return r.diagnostics;
});

async function run() {
  runButton.disabled = true;
  try {
    setState('compiling', 'compiling…');
    const opts = options();
    const r = await client.request({ kind: 'plan', source: editor.state.doc.toString(), file: FILE, ...opts });
    showDiagnostics(r.diagnostics);
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
