/**
 * Language-server benchmark (issue 16): time from a didChange (one character edited) to
 * the publishDiagnostics for that version, through the real `mdc lsp --stdio` process
 * (the compiled CLI, dist/ built first, as users run it), on samples/gpt2.model and on a generated model of about
 * 5,000 lines (700 blocks, each called once in a chain). The time includes the server's
 * 10 ms debounce and the JSON-RPC round trip. Writes bench/results/lsp.md and .json.
 * Run: npm run bench:lsp
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Client } from '../test/lsp/client.js';
import { benchArgs } from './args.js';

benchArgs({
  command: 'bench:lsp',
  about:
    'Language-server latency: from a one-character didChange to the publishDiagnostics for that version, through the real mdc lsp --stdio ' +
    'process (dist/ built first), on samples/gpt2.model and on a generated model of about 5,000 lines.',
  writes: 'bench/results/lsp.md and lsp.json.',
  flags: {},
});

function chainModel(blocks: number): string {
  const parts = ['config C {\n  d = 16\n}\n'];
  for (let i = 0; i < blocks; i++)
    parts.push(`block B${i}(x: f32[N, d]) -> f32[N, d] {\n  param w: f32[d, d] = normal(0, 0.02)\n  let h = x @ w\n  return h + x\n}\n`);
  const lets = Array.from({ length: blocks }, (_, i) => `  let h${i} = B${i}(${i ? `h${i - 1}` : 'x'})`).join('\n');
  parts.push(`model M(x: f32[N, d]) -> f32[N, d] where N = 8 {\n${lets}\n  return h${blocks - 1}\n}\n`);
  return parts.join('\n');
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

async function measure(c: Client, name: string, text: string, runs: number) {
  const uri = `file:///bench/${name}`;
  await c.open(text, uri);
  const first = await c.diagnostics(uri, 1);
  if (first.diagnostics.length) throw new Error(`${name} has diagnostics: ${first.diagnostics[0]!.message}`);
  // The edit: the first `0.02` becomes `0.03` and back, one character each time.
  const at = text.indexOf('0.02');
  const before = text.slice(0, at + 3);
  const line = before.split('\n').length - 1;
  const character = at + 3 - before.lastIndexOf('\n') - 1;
  const times: number[] = [];
  for (let v = 2; v < runs + 2; v++) {
    const t0 = performance.now();
    await c.rpc.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: v },
      contentChanges: [{ range: { start: { line, character }, end: { line, character: character + 1 } }, text: v % 2 ? '2' : '3' }],
    });
    const p = await c.diagnostics(uri, v);
    times.push(performance.now() - t0);
    if (p.diagnostics.length) throw new Error(`${name}: unexpected diagnostic ${p.diagnostics[0]!.message}`);
  }
  await c.close(uri);
  const warm = times.slice(5);
  return { name, lines: text.split('\n').length, runs: warm.length, p50: quantile(warm, 0.5), p95: quantile(warm, 0.95), max: Math.max(...warm) };
}

// The server users run is the compiled one: build dist/ from the current sources first.
execFileSync('npm', ['run', 'build'], { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
const c = await Client.start(true);
const rows = [
  { ...(await measure(c, 'gpt2.model', readFileSync(new URL('../samples/gpt2.model', import.meta.url), 'utf8'), 205)), goal: 50 },
  { ...(await measure(c, 'chain-5000.model', chainModel(700), 55)), goal: 300 },
];
await c.stop();

const ms = (x: number) => x.toFixed(1);
const md = `# Language server: edit to diagnostics

Time from a didChange (one character of a number edited, the document staying valid) to the
publishDiagnostics for that version, through \`mdc lsp --stdio\` over JSON-RPC (the compiled
CLI in dist/, \`node bin/mdc.js\`; the 10 ms debounce included). The first 5 edits are warm-up and not counted.
Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}; one run on a shared machine.

| document | lines | edits | p50 (ms) | p95 (ms) | max (ms) | goal p95 (ms) |
|---|---:|---:|---:|---:|---:|---:|
${rows.map((r) => `| ${r.name} | ${r.lines} | ${r.runs} | ${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.max)} | ${r.goal} |`).join('\n')}
`;
writeFileSync(new URL('results/lsp.md', import.meta.url), md);
writeFileSync(new URL('results/lsp.json', import.meta.url), JSON.stringify({ node: process.version, rows }, null, 2) + '\n');
console.log(md);
