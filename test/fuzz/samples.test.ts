import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../../driver/compile.js';
import { OptionError } from '../../driver/frontend.js';
import { numel } from '../../layout/mesh.js';
import { malformedDiagnostics } from '../diagnostics/well-formed.js';
import { mdc } from '../support/cli.js';
import { compareOutputs, destroySharedDevices, runGraphBoth } from '../support/gpu.js';
import { mutateGently, mutateSource } from '../support/mutate.js';
import { mulberry32 } from '../support/random.js';

/**
 * A bounded, seeded fuzz campaign over every sample: mutants of each go through the whole
 * pipeline (check → lower → [train] → optimize → memory → codegen, every stage verified),
 * through the CLI as a user calls it, and, when accepted and small, onto the GPU against
 * the CPU oracle. Whatever the mutant, nothing throws, every diagnostic is coded and
 * located, no message shows a stack trace, and an accepted program computes what the
 * oracle computes.
 *
 * Reproduce one mutant: FUZZ_SEED=<seed printed> FUZZ_PER_SAMPLE=1. Soak with a bigger FUZZ_PER_SAMPLE.
 */
const PER_SAMPLE = Number(process.env['FUZZ_PER_SAMPLE'] ?? 40);
const FIRST_SEED = Number(process.env['FUZZ_SEED'] ?? 20_261_203);
/** Accepted mutants run on the GPU when their parameters and activations are this small. */
const GPU_ELEMENTS = 2 ** 21;
const GPU_RUNS_PER_SAMPLE = 3;

const SAMPLES = readdirSync('samples')
  .filter((f) => f.endsWith('.model'))
  .sort();
const dir = mkdtempSync(join(tmpdir(), 'mdc-fuzz-'));
afterAll(destroySharedDevices);

/** A message that shows the reader a JavaScript stack or an internal error instead of mdc's words. */
const LEAK = /^\s+at |\b(TypeError|RangeError|ReferenceError|SyntaxError|Error):|internal error|\bundefined\b|\[object /m;

describe('fuzzing the samples through the whole pipeline', () => {
  it.each(SAMPLES)(
    '%s: mutants compile to a verified plan or to well-formed diagnostics',
    async (sample) => {
      const text = readFileSync(`samples/${sample}`, 'utf8');
      const trains = /^train\s/m.test(text);
      // Samples small enough to have no `tiny` preset (the classifiers) are fuzzed at their own size.
      const front = /^preset\s+tiny\b/m.test(text) ? { preset: 'tiny' } : {};
      const failures: string[] = [];
      let accepted = 0;
      let ranOnGpu = 0;
      for (let seed = FIRST_SEED; seed < FIRST_SEED + PER_SAMPLE && failures.length < 3; seed++) {
        // Odd seeds edit gently (most survive checking), even seeds wildly (most are refused).
        const src = (seed % 2 ? mutateGently : mutateSource)(text, mulberry32(seed));
        const where = `${sample} seed ${seed}`;
        for (const train of trains ? [false, true] : [false]) {
          try {
            const r = await compile(src, 'mutant.model', { ...front, verify: true, train: train ? { microbatches: 1 } : false });
            const problems = malformedDiagnostics(src, r.diagnostics);
            if (problems.length) failures.push(`${where}: ${problems.join('; ')}`);
            if (!r.diagnostics.length && !r.plan) failures.push(`${where}: neither a plan nor a diagnostic`);
            if (!r.plan || train) continue;
            accepted++;
            const size = r.plan.buffers.reduce((n, b) => n + numel(b.shape), 0);
            if (ranOnGpu >= GPU_RUNS_PER_SAMPLE || size > GPU_ELEMENTS) continue;
            ranOnGpu++;
            const both = await runGraphBoth(r.forward!, { seed: 3 });
            for (const [name, e] of Object.entries(compareOutputs(both, { nonFinite: 'expected' }))) {
              // f32 kernels against the float64 oracle; mutants can be ill-conditioned, hence 1e-3, not 1e-5.
              if (!(e.rel <= 1e-3) || e.nonFiniteMismatches) failures.push(`${where}: output ${name} differs from the oracle: ${JSON.stringify(e)}`);
            }
          } catch (e) {
            // A mutant that lost its `tiny` preset: the option names nothing, which compile() refuses as the caller's mistake.
            if (e instanceof OptionError && e.option === 'preset') continue;
            failures.push(`${where}${train ? ' (train)' : ''} threw: ${(e as Error).stack?.split('\n').slice(0, 4).join(' | ')}`);
          }
        }
      }
      if (process.env['FUZZ_STATS']) console.log(`${sample}: ${accepted} of ${PER_SAMPLE} accepted, ${ranOnGpu} run on the GPU`);
      expect(failures, failures.join('\n')).toEqual([]);
      expect(accepted, 'some mutants must survive, or the accepted path is not exercised').toBeGreaterThan(0);
      expect(accepted, 'most mutants must be broken, or the diagnostics are not exercised').toBeLessThan(PER_SAMPLE);
    },
    600_000,
  );

  it.each(SAMPLES)(
    '%s: mdc check and mdc compile on mutants answer in mdc’s words with the right exit code',
    async (sample) => {
      const text = readFileSync(`samples/${sample}`, 'utf8');
      const failures: string[] = [];
      for (let seed = FIRST_SEED; seed < FIRST_SEED + Math.ceil(PER_SAMPLE / 4); seed++) {
        const file = join(dir, `${sample}.${seed}.model`);
        writeFileSync(file, (seed % 2 ? mutateGently : mutateSource)(text, mulberry32(seed)));
        for (const args of [
          ['check', file, '--preset', 'tiny'],
          ['check', file, '--json'],
          ['compile', file, '--preset', 'tiny', '-o', join(dir, `out-${seed}`)],
        ]) {
          const r = await mdc(...args);
          const said = `${args.join(' ')} → ${r.code}: ${r.err.slice(0, 300)}`;
          if (![0, 1, 2].includes(r.code)) failures.push(`exit code ${said}`);
          if (LEAK.test(r.err) || LEAK.test(r.out)) failures.push(`leaked: ${said}`);
          if (args.includes('--json')) {
            try {
              JSON.parse(r.out);
            } catch {
              failures.push(`--json printed no JSON: ${said}`);
            }
          }
        }
      }
      expect(failures, failures.join('\n')).toEqual([]);
    },
    600_000,
  );
});
