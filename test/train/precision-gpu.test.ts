import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dimConst } from '../../compiler/dims.js';
import { GraphBuilder } from '../../compiler/ir.js';
import { NO_SPAN } from '../../diagnostics/span.js';
import { gpuStatus, runGraphBoth } from '../support/gpu.js';

/** Mixed precision on WebGPU: the rounding kernels are bit-exact against the CPU reference, and mdc train --precision f16 trains and resumes exactly. */
const status = await gpuStatus();

function special(n: number): Float32Array {
  const out = new Float32Array(n);
  const fixed = [0, -0, 1, -1, 1 / 3, 65504, 65519, 65520, 70000, -1e6, 2 ** -24 * 0.5, 2 ** -24 * 1.5, 2 ** -14, 1e-30, 3.4e38, Infinity, -Infinity, NaN, 1 + 2 ** -8, 1 + 3 * 2 ** -8];
  for (let i = 0; i < n; i++) out[i] = i < fixed.length ? fixed[i]! : Math.sinh((i * 0.7919) % 20 - 10) * 10 ** ((i % 13) - 6);
  return out;
}

describe.skipIf(status.skip)(status.title('mixed precision on WebGPU'), () => {
  it.each(['bf16', 'f16'] as const)('round_to %s is bit-exact against the CPU reference on specials, subnormals and 1000 values', async (dtype) => {
    const b = new GraphBuilder();
    const x = b.addValue({ type: { dtype: 'f32', dims: [dimConst(1000)] }, kind: 'input', name: 'x' });
    const [y] = b.addNode('round_to', [x], [x.type], { dtype }, NO_SPAN, '');
    const [ok] = b.addNode('all_finite', [x], [{ dtype: 'f32', dims: [] }], {}, NO_SPAN, '');
    const g = b.finish('R', [y!, ok!], ['y', 'ok']);
    const r = await runGraphBoth(g, { inputs: { x: special(1000) } });
    const gpu = r.gpu['y']!.data;
    const cpu = r.cpu['y']!.data;
    for (let i = 0; i < 1000; i++) {
      if (Number.isNaN(cpu[i]!)) expect(Number.isNaN(gpu[i]!), `element ${i}`).toBe(true);
      else expect(gpu[i], `element ${i}: ${special(1000)[i]}`).toBe(cpu[i]);
    }
    expect(r.gpu['ok']!.data[0]).toBe(0);
    expect(r.cpu['ok']!.data[0]).toBe(0);
  });

  it('mdc train --precision f16: trains with loss scaling, and a killed run resumes with the same losses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdc-mp-'));
    const args = ['--import', 'tsx', 'cli/bin.ts', 'train', 'samples/gpt2.model', '--preset', 'tiny', '--set', 'vocab=256', '--data', '/usr/share/common-licenses/GPL-3',
      '--steps', '6', '--batch', '2', '--seq', '16', '--lr', '3e-3', '--checkpoint-every', '3', '--precision', 'f16'];
    const full = spawnSync(process.execPath, [...args, '--out', join(dir, 'full'), '--json'], { encoding: 'utf8', timeout: 300_000 });
    expect(full.status, full.stderr).toBe(0);
    const losses = (JSON.parse(full.stdout.slice(full.stdout.indexOf('{'))) as { losses: number[] }).losses;
    expect(losses.at(-1)!).toBeLessThan(losses[0]! - 0.3);
    const out = join(dir, 'killed');
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [...args, '--out', out], { stdio: ['ignore', 'pipe', 'ignore'] });
      let text = '';
      child.stdout.on('data', (b: Buffer) => { text += b.toString(); if (text.includes('step 5/6')) child.kill('SIGKILL'); });
      child.on('exit', (_c, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(text))));
    });
    const resumed = spawnSync(process.execPath, [...args, '--out', out, '--resume', join(out, 'checkpoint.safetensors'), '--json'], { encoding: 'utf8', timeout: 300_000 });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect((JSON.parse(resumed.stdout.slice(resumed.stdout.indexOf('{'))) as { losses: number[] }).losses).toEqual(losses);
  });
});
