/**
 * Sharding benchmark: strategy search (`auto`, HiGHS) and partitioning time for GPT-2
 * small on 8 devices and a 96-layer GPT-3 shape on 64 devices. The in-run comparison is
 * the same search with repeated layers left untied (Alpa's search without layer
 * clustering is the published peer: about 40 minutes for a 39B model on 64 GPUs; it is
 * quoted, not measured here).
 * Writes bench/results/sharding.md and bench/results/sharding.json (not in --quick mode).
 * Run: npm run bench:sharding [-- --quick]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { lower } from '../compiler/compile.js';
import { autoShard } from '../compiler/sharding/auto.js';
import type { Mesh } from '../compiler/sharding/mesh.js';
import { partition } from '../compiler/sharding/partition.js';
import { meshDevices } from '../layout/mesh.js';
import { benchArgs } from './args.js';

const { quick } = benchArgs({
  command: 'bench:sharding',
  about:
    'Strategy search (auto, HiGHS) and partitioning time for GPT-2 small on 8 devices and a 96-layer GPT-3 shape on 64 devices, ' +
    'with the same search with repeated layers left untied beside it.',
  writes: 'bench/results/sharding.md and sharding.json (not with --quick).',
  flags: { quick: { type: 'boolean', help: 'the same runs, nothing written' } },
});
const gpt2 = readFileSync('samples/gpt2.model', 'utf8');
const mesh = (spec: Record<string, number>): Mesh => ({ axes: Object.entries(spec).map(([name, size]) => ({ name, size })) });

interface Row {
  kernel: string;
  case: string;
  impl: string;
  median: number;
  unit: string;
  note?: string;
}
const rows: Row[] = [];

async function run(name: string, opts: Parameters<typeof lower>[2], m: Mesh, untied: boolean) {
  const t0 = performance.now();
  const g = lower(gpt2, 'gpt2.model', opts).graph!;
  const tLower = performance.now() - t0;
  const a = await autoShard(g, m, { training: true, timeLimit: 120, ...(untied ? { tieLayers: false } : {}) });
  const t1 = performance.now();
  const p = partition(g, m, { layouts: a.layouts });
  const tPart = performance.now() - t1;
  const devices = meshDevices(m);
  const impl = untied ? 'mdc auto, layers untied' : 'mdc auto';
  rows.push({
    kernel: 'auto search',
    case: `${name}, ${devices} devices`,
    impl,
    median: Number(a.searchSeconds.toFixed(3)),
    unit: 's',
    note: `${a.status}; ${a.variables} columns, ${a.constraints} rows, ${a.distinctNodes} decisions for ${g.nodes.length} ops`,
  });
  if (!untied) {
    rows.push({ kernel: 'lower', case: `${name}`, impl: 'mdc', median: Number((tLower / 1000).toFixed(3)), unit: 's' });
    rows.push({
      kernel: 'partition',
      case: `${name}, ${devices} devices`,
      impl: 'mdc',
      median: Number((tPart / 1000).toFixed(3)),
      unit: 's',
      note: `${p.collectives.length} collectives`,
    });
  }
  return a.searchSeconds;
}

const small = await run('GPT-2 small (12 layers, S = 1024)', { dims: { S: 1024 } }, mesh({ dp: 2, tp: 4 }), false);
const smallUntied = await run('GPT-2 small (12 layers, S = 1024)', { dims: { S: 1024 } }, mesh({ dp: 2, tp: 4 }), true);
const gpt3 = { dims: { S: 2048, B: 8 }, overrides: { d: 12288, heads: 96, layers: 96, ctx: 2048 } };
const big = await run('GPT-3 175B shape (96 layers, d = 12288, S = 2048)', gpt3, mesh({ dp: 8, tp: 8 }), false);

const md = [
  '# Sharding benchmark',
  '',
  `Machine: ${process.platform} ${process.arch}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}. One run each (the search is deterministic; times are wall clock).`,
  '',
  '| kernel | case | impl | median | unit | note |',
  '|---|---|---|---:|---|---|',
  ...rows.map((r) => `| ${r.kernel} | ${r.case} | ${r.impl} | ${r.median} | ${r.unit} | ${r.note ?? ''} |`),
  '',
  `Tying repeated layers: GPT-2 small search ${(smallUntied / small).toFixed(1)}× faster than untied in the same run.`,
  `GPT-3 shape on 64 devices: ${big.toFixed(2)} s of search. Alpa reports about 40 minutes of compilation for a 39B model on 64 GPUs (Zheng et al. 2022, quoted, not measured here).`,
  '',
].join('\n');
if (!quick) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/sharding.md', md);
  writeFileSync('bench/results/sharding.json', JSON.stringify({ rows }, null, 2) + '\n');
}
console.log(md);
