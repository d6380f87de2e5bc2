/**
 * The bench scripts' shared command line (bench/args.ts): --help and a usage error end the
 * process before any work, so a typo cannot start a long benchmark that overwrites
 * bench/results/. The parser is checked as a function, then three real scripts are run.
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../bench/args.js';

const spec = {
  command: 'bench:demo',
  about: 'Trains the demo model and reports its accuracy.',
  writes: 'bench/results/demo.md and demo.json.',
  flags: {
    epochs: { type: 'integer', value: 'N', help: 'training epochs', default: 5 },
    quick: { type: 'boolean', help: 'a few steps, nothing written' },
    hardware: { type: 'string', value: 'NAME', help: 'the hardware', default: 'a100-80gb' },
    baseline: { type: 'string', value: 'DIR', help: 'an earlier build' },
  },
} as const;

const parse = (...argv: string[]) => parseBenchArgs(spec, argv);
/** A refusal or --help as its exit code and first line; undefined when the line parsed. */
const exitOf = (r: { exit: number; text: string } | object) => ('exit' in r ? { exit: r.exit, first: r.text.split('\n')[0] } : undefined);

describe('parseBenchArgs', () => {
  it('gives the defaults with no flags and the values given', () => {
    expect(parse()).toEqual({ values: { words: [], epochs: 5, quick: false, hardware: 'a100-80gb', baseline: undefined } });
    expect(parse('--epochs', '12', '--quick', '--hardware=h100', '--baseline', '/tmp/old')).toEqual({
      values: { words: [], epochs: 12, quick: true, hardware: 'h100', baseline: '/tmp/old' },
    });
  });

  it('--help (or -h) is the usage, exit 0: the npm command, every flag with its value and default, what it writes', () => {
    const r = parse('--epochs', '3', '--help');
    expect(r).toEqual({
      exit: 0,
      text: [
        'Usage: npm run bench:demo [-- FLAGS]',
        '',
        'Trains the demo model and reports its accuracy.',
        '',
        'Flags:',
        '  --epochs N       training epochs (default: 5)',
        '  --quick          a few steps, nothing written',
        '  --hardware NAME  the hardware (default: a100-80gb)',
        '  --baseline DIR   an earlier build',
        '  --help           print this and exit',
        '',
        'Writes bench/results/demo.md and demo.json.',
      ].join('\n'),
    });
    expect(parse('-h')).toEqual(r);
  });

  it('an unknown flag, a stray argument or a missing value is exit 2, naming it, with the usage after', () => {
    const bogus = parse('--epochs', '3', '--bogus');
    expect(exitOf(bogus)).toEqual({
      exit: 2,
      first: "npm run bench:demo: unknown flag '--bogus'; the flags are --epochs, --quick, --hardware, --baseline, --help",
    });
    expect('text' in bogus && bogus.text).toContain('\n\nUsage: npm run bench:demo [-- FLAGS]\n');
    expect(exitOf(parse('-x'))?.first).toBe("npm run bench:demo: unknown flag '-x'; the flags are --epochs, --quick, --hardware, --baseline, --help");
    expect(exitOf(parse('quick'))?.first).toBe(
      "npm run bench:demo: unexpected argument 'quick'; this benchmark takes only flags (--epochs, --quick, --hardware, --baseline, --help)",
    );
    expect(exitOf(parse('--hardware'))?.first).toBe('npm run bench:demo: --hardware needs a value: --hardware NAME');
    expect(exitOf(parse('--epochs', '--quick'))?.first).toBe('npm run bench:demo: --epochs needs a value: --epochs N');
    expect(exitOf(parse('--quick=yes'))?.first).toBe('npm run bench:demo: --quick takes no value');
  });

  it('an integer flag takes whole numbers from its minimum up and refuses the rest', () => {
    for (const [text, n] of [
      ['1', 1],
      ['40', 40],
      [' 7', 7],
      ['1e3', 1000],
    ] as const)
      expect(parse('--epochs', text)).toMatchObject({ values: { epochs: n } });
    for (const bad of ['0', '-2', '2.5', 'ten', '', 'NaN', 'Infinity', '1e30'])
      expect(exitOf(parse(`--epochs=${bad}`))).toEqual({ exit: 2, first: `npm run bench:demo: --epochs must be a whole number ≥ 1, not '${bad}'` });
    const zeroOk = parseBenchArgs({ ...spec, flags: { skip: { type: 'integer', value: 'K', help: 'steps skipped', default: 0, min: 0 } } }, ['--skip', '0']);
    expect(zeroOk).toEqual({ values: { words: [], skip: 0 } });
  });

  it('words only where the script declares them, and its own check refuses like a bad value', () => {
    const words = {
      ...spec,
      command: 'bench/demo.ts',
      flags: { only: { type: 'string', value: 'KERNEL', help: 'one kernel' } },
      words: { value: 'WORDS', help: 'the rest of the name' },
      check: (v: { only: string | undefined; words: readonly string[] }) => (v.only === undefined && v.words.length ? 'words need --only' : undefined),
    } as const;
    expect(parseBenchArgs(words, ['--only', 'attention', 'written', 'out'])).toEqual({ values: { only: 'attention', words: ['written', 'out'] } });
    expect(exitOf(parseBenchArgs(words, ['written']))).toEqual({ exit: 2, first: 'bench/demo.ts: words need --only' });
    const help = parseBenchArgs(words, ['--help']);
    expect('text' in help && help.text.split('\n')[0]).toBe('Usage: node --import tsx bench/demo.ts [FLAGS]');
  });
});

describe('the bench scripts end at once on --help and on an unknown flag', () => {
  // Each script imports its modules first (a second or two under tsx); a benchmark that started
  // would run for minutes, so the timeout ends it and the exit code says so.
  const run = (script: string, flag: string) => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', script, flag], { encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, out: r.stdout, err: r.stderr, seconds: (performance.now() - t0) / 1000 };
  };
  const results = (name: string) => ['md', 'json'].map((ext) => statSync(`bench/results/${name}.${ext}`).mtimeMs);

  for (const [script, command, result] of [
    ['bench/train.ts', 'bench:train', 'train'],
    ['bench/kernels.ts', 'bench:kernels', 'kernels'],
    ['bench/run.ts', 'bench', 'frontend'],
  ] as const) {
    it(`${script}`, () => {
      const before = results(result);
      const help = run(script, '--help');
      expect(help.code).toBe(0);
      expect(help.out.split('\n')[0]).toBe(`Usage: npm run ${command} [-- FLAGS]`);
      expect(help.out).toContain(`Writes bench/results/${result}.md`);
      const bogus = run(script, '--bogus');
      expect(bogus.code).toBe(2);
      expect(bogus.out).toBe('');
      expect(bogus.err.split('\n')[0]).toMatch(new RegExp(`^npm run ${command}: unknown flag '--bogus'; the flags are --quick, `));
      expect(bogus.err).toContain(`Usage: npm run ${command} [-- FLAGS]`);
      // Seconds, not the minutes a benchmark takes; generous for a loaded two-core machine.
      expect(Math.max(help.seconds, bogus.seconds)).toBeLessThan(30);
      expect(results(result)).toEqual(before);
    });
  }
});
