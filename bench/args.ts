/**
 * The command line of every bench script. A benchmark can run for most of an hour and
 * overwrites bench/results/, so a mistyped flag must not start one: `--help` prints the
 * script's usage and exits 0, and an unknown flag, a missing or bad value, or a stray
 * argument prints what was wrong and the usage to stderr and exits 2, both before the
 * script does any work (call `benchArgs` first, right after the imports).
 */
import { parseArgs } from 'node:util';

/** One flag: a switch, a text, or a whole number at least `min` (1 unless given). */
export type BenchFlag =
  | { readonly type: 'boolean'; readonly help: string }
  | { readonly type: 'string'; readonly value: string; readonly help: string; readonly default?: string }
  | { readonly type: 'integer'; readonly value: string; readonly help: string; readonly default: number; readonly min?: number };

export interface BenchSpec<F extends Record<string, BenchFlag>> {
  /** The npm script, `bench:kernels` (run as `npm run bench:kernels -- FLAGS`), or the script's path, `bench/copies.ts`, when it has none. */
  readonly command: string;
  /** What the benchmark measures, one paragraph. */
  readonly about: string;
  /** What it writes, e.g. `bench/results/kernels.md and kernels.json`. */
  readonly writes: string;
  readonly flags: F;
  /** Words after the flags, when the script takes any (their name in the usage and what they mean); otherwise they are refused. */
  readonly words?: { readonly value: string; readonly help: string };
  /** A check across the values (a flag's format, flags that go together): the problem, or undefined when there is none. */
  readonly check?: (values: BenchValues<F>) => string | undefined;
}

type ValueOf<T extends BenchFlag> = T extends { type: 'boolean' }
  ? boolean
  : T extends { type: 'integer' }
    ? number
    : T extends { default: string }
      ? string
      : string | undefined;

export type BenchValues<F extends Record<string, BenchFlag>> = { readonly [K in keyof F]: ValueOf<F[K]> } & { readonly words: readonly string[] };

/** What the command line asks for: the values, or an exit (0 for --help, 2 for a usage error) with the text to print. */
export type BenchArgs<F extends Record<string, BenchFlag>> = { readonly values: BenchValues<F> } | { readonly exit: 0 | 2; readonly text: string };

const WIDTH = 88;

function wrap(text: string, indent: number, first: number): string[] {
  const lines: string[] = [];
  let line = '';
  let room = WIDTH - first;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > room) {
      lines.push(line);
      line = word;
      room = WIDTH - indent;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines;
}

export function benchUsage<F extends Record<string, BenchFlag>>(spec: BenchSpec<F>): string {
  const rows: [string, string][] = Object.entries(spec.flags).map(([name, f]) => {
    const left = f.type === 'boolean' ? `--${name}` : `--${name} ${f.value}`;
    const dflt = f.type !== 'boolean' && f.default !== undefined ? ` (default: ${f.default})` : '';
    return [left, f.help + dflt];
  });
  if (spec.words) rows.push([spec.words.value, spec.words.help]);
  rows.push(['--help', 'print this and exit']);
  const col = Math.max(...rows.map(([l]) => l.length)) + 4;
  const flagLines = rows.flatMap(([l, h]) => wrap(h, col, col).map((line, i) => (i === 0 ? `  ${l.padEnd(col - 2)}${line}` : ' '.repeat(col) + line)));
  const flags = rows.length > 1 ? ' [FLAGS]' : '';
  const synopsis = spec.command.endsWith('.ts') ? `node --import tsx ${spec.command}${flags}` : `npm run ${spec.command}${flags && ' [-- FLAGS]'}`;
  return [`Usage: ${synopsis}`, '', ...wrap(spec.about, 0, 0), '', 'Flags:', ...flagLines, '', ...wrap(`Writes ${spec.writes}`, 0, 0)].join('\n');
}

function integer(text: string, name: string, min: number): number | string {
  const n = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(n) || n < min) return `--${name} must be a whole number ≥ ${min}, not '${text}'`;
  return n;
}

/** The command line `argv` (without node and the script) read against `spec`; prints nothing and never exits. */
export function parseBenchArgs<F extends Record<string, BenchFlag>>(spec: BenchSpec<F>, argv: readonly string[]): BenchArgs<F> {
  const usage = () => benchUsage(spec);
  const who = spec.command.endsWith('.ts') ? spec.command : `npm run ${spec.command}`;
  const fail = (message: string) => ({ exit: 2 as const, text: `${who}: ${message}\n\n${usage()}` });
  const options: Record<string, { type: 'boolean' | 'string'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, f] of Object.entries(spec.flags)) options[name] = { type: f.type === 'boolean' ? 'boolean' : 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: !!spec.words });
  } catch (e) {
    return fail(parseProblem(e, spec.flags));
  }
  if (parsed.values['help']) return { exit: 0, text: usage() };
  const values: Record<string, unknown> = { words: parsed.positionals };
  for (const [name, f] of Object.entries(spec.flags)) {
    const given = parsed.values[name];
    if (f.type === 'boolean') values[name] = given === true;
    else if (f.type === 'string') values[name] = given ?? f.default;
    else if (given === undefined) values[name] = f.default;
    else {
      const n = integer(given as string, name, f.min ?? 1);
      if (typeof n === 'string') return fail(n);
      values[name] = n;
    }
  }
  const problem = spec.check?.(values as BenchValues<F>);
  return problem === undefined ? { values: values as BenchValues<F> } : fail(problem);
}

/** node:util's messages are written for CLIs in general; these name this script's flags. */
function parseProblem(e: unknown, flags: Readonly<Record<string, BenchFlag>>): string {
  const code = (e as { code?: string }).code;
  const message = e instanceof Error ? e.message : String(e);
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
  const names = [...Object.keys(flags), 'help'].map((n) => `--${n}`).join(', ');
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown flag '${quoted}'; the flags are ${names}`;
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument '${quoted}'; this benchmark takes only flags (${names})`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const name = /^--?([\w-]+)/.exec(quoted)?.[1] ?? quoted;
    const f = flags[name];
    return f && f.type !== 'boolean' ? `--${name} needs a value: --${name} ${f.value}` : `--${name} takes no value`;
  }
  return message;
}

/**
 * The script's flags from process.argv: on --help the usage goes to stdout and the process
 * exits 0; on a usage error the problem and the usage go to stderr and it exits 2.
 */
export function benchArgs<F extends Record<string, BenchFlag>>(spec: BenchSpec<F>, argv: readonly string[] = process.argv.slice(2)): BenchValues<F> {
  const r = parseBenchArgs(spec, argv);
  if ('values' in r) return r.values;
  (r.exit === 0 ? process.stdout : process.stderr).write(r.text + '\n');
  process.exit(r.exit);
}
