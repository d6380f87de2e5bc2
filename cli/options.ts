/**
 * What every command shares: the exit codes, usage errors, option parsing with messages
 * in mdc's words, the front-end options (`--preset`, `--set`, `--dim`, `--model`) checked
 * against the file, and the diagnostics report.
 */
import { readFileSync, statSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { FrontendOptions } from '../compiler/compile.js';
import { parseMeshSpec, type Mesh } from '../compiler/sharding/mesh.js';
import { diagnosticToJson, formatDiagnostic } from '../diagnostics/format.js';
import { didYouMeanAside, type Diagnostic } from '../diagnostics/messages.js';
import { compile, type CompileOptions, type Compiled } from '../driver/compile.js';
import { OptionError } from '../driver/frontend.js';

export const EXIT = { ok: 0, diagnostics: 1, usage: 2 } as const;

/** A mistake in how mdc was called: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** The process's own terminal: progress lines may be rewritten in place. */
  readonly interactive?: boolean;
}

export type Values = Record<string, string | boolean | string[] | undefined>;
export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** One command: its help, its options and what it does with one FILE. */
export interface Command {
  readonly help: string;
  readonly options: OptionSpec;
  run(file: string, source: string, v: Values, io: Io): Promise<number> | number;
  /** A command that reads no FILE (`mdc lsp`) runs this instead of `run`. */
  fileless?(v: Values, io: Io): Promise<number>;
  /** A command whose FILE is not a .model source (`mdc import`'s ONNX file) runs this with its path instead of `run`. */
  binaryFile?(file: string, v: Values, io: Io): Promise<number>;
}

export const FRONTEND_HELP = `  --preset NAME      apply a preset's overrides of config constants
  --set NAME=VALUE   override a config constant (repeatable), e.g. --set d=128
  --dim NAME=VALUE   give a symbolic dim a value (repeatable), e.g. --dim S=64
  --model NAME       which model to use when the file has several (default: the last)
  --json             print diagnostics (and results) as JSON`;

export const COMMON: OptionSpec = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  preset: { type: 'string' },
  set: { type: 'string', multiple: true },
  dim: { type: 'string', multiple: true },
  model: { type: 'string' },
};

/** `parseArgs`, with its errors said the way mdc says things. */
export function parseCommandArgs(cmd: string, args: readonly string[], options: OptionSpec): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (e) {
    const err = e as Error & { code?: string };
    const names = Object.keys(options).map((k) => `--${k}`);
    const opt = /'(-[^']*)'/.exec(err.message)?.[1] ?? '';
    const bare = opt.replace(/^-+/, '').split(/[ =]/)[0] ?? '';
    switch (err.code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw new UsageError(`${cmd} has no option '${opt}'${didYouMeanAside(`--${bare}`, names)}; its options are ${names.join(', ')}`);
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
        const long = /--([\w-]+)/.exec(err.message)?.[1] ?? bare;
        throw new UsageError(options[long]?.type === 'boolean' ? `--${long} is a switch and takes no value` : `--${long} needs a value, e.g. --${long} VALUE`);
      }
      default:
        throw new UsageError(err.message.replace(/^TypeError \[\w+\]: /, ''));
    }
  }
}

/**
 * The largest source mdc reads. Real models are a few KiB; checking a dense source takes about
 * 650 bytes of memory per byte (tokens, syntax tree, AST, the elaborated graph; bench/results/scale.md),
 * so 2 MiB peaks near 1.3 GB, and 10 MB exhausted V8's heap.
 */
export const MAX_SOURCE_BYTES = 2 * 2 ** 20;

/** The source of FILE: a regular file read as UTF-8; anything else is a usage error. */
export function readSource(file: string): string {
  let buf: Buffer;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new UsageError(`'${file}' is a directory; give a .model file`);
    if (!st.isFile()) throw new UsageError(`'${file}' is not a regular file (a device, a pipe or a socket), which mdc does not read`);
    if (st.size > MAX_SOURCE_BYTES)
      throw new UsageError(`'${file}' is too large: ${st.size} bytes, over the ${MAX_SOURCE_BYTES / 2 ** 20} MiB limit for a .model file`);
    buf = readFileSync(file);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `cannot read '${file}': no such file` : `cannot read '${file}': ${(e as Error).message}`);
  }
  return buf.toString('utf8');
}

export function positive(x: unknown, name: string): number {
  const n = Number(x);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${x}'`);
  return n;
}

/** `--time-limit S` of mdc run and mdc generate: seconds per submission of kernels, returned in milliseconds. */
export function timeLimitOption(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const s = Number(v);
  if (!(s > 0) || !Number.isFinite(s)) throw new UsageError(`--time-limit must be a positive number of seconds, not '${String(v)}'`);
  return s * 1000;
}

export function intOption(x: unknown, name: string): number {
  if (x === undefined) return 0;
  const n = Number(x);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, got '${x}'`);
  return n;
}

export function parseBytes(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?\s*$/i.exec(text);
  if (!m) throw new UsageError(`--${flag} expects a size such as 16GiB or 512MiB, got '${text}'`);
  const unit = (m[2] ?? 'B').toLowerCase();
  const mult: Record<string, number> = { b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 };
  return Number(m[1]) * mult[unit]!;
}

/** `NAME=NUMBER` pairs from repeatable, comma-separated options. */
export function pairs(list: unknown, flag: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of (list as string[] | undefined) ?? []) {
    for (const part of item.split(',')) {
      const m = /^\s*([A-Za-z_]\w*)\s*=\s*(-?[\d.eE+-]+)\s*$/.exec(part);
      if (!m || !Number.isFinite(Number(m[2]))) throw new UsageError(`--${flag} expects NAME=NUMBER, got '${part}'`);
      out[m[1]!] = Number(m[2]);
    }
  }
  return out;
}

export function meshOption(v: Values): Mesh | undefined {
  if (v['mesh'] === undefined) return undefined;
  const m = parseMeshSpec(v['mesh'] as string);
  if (typeof m === 'string') throw new UsageError(`--mesh: ${m} (expected e.g. --mesh dp=2,tp=4)`);
  return m;
}

/** The front-end options of a command line. */
export function frontendOptions(v: Values): FrontendOptions {
  const mesh = meshOption(v);
  const dims = pairs(v['dim'], 'dim');
  for (const [k, n] of Object.entries(dims)) {
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--dim ${k} must be a positive integer, got ${n}`);
    if (!Number.isSafeInteger(n)) throw new UsageError(`--dim ${k}=${n} is too large: a dim is at most ${Number.MAX_SAFE_INTEGER} (2^53 - 1)`);
  }
  return {
    ...(v['preset'] ? { preset: v['preset'] as string } : {}),
    ...(v['model'] ? { model: v['model'] as string } : {}),
    overrides: pairs(v['set'], 'set'),
    dims,
    ...(mesh ? { mesh: mesh.axes } : {}),
  };
}

/** Diagnostics to stderr (tsc's `file:line:col: error MDCxxxx:` with the source line), or as JSON to stdout. */
export function report(ds: readonly Diagnostic[], source: string, json: boolean, io: Io, extra: Record<string, unknown> = {}): void {
  if (json) {
    io.out(JSON.stringify({ ...extra, diagnostics: ds.map(diagnosticToJson) }, null, 2));
    return;
  }
  for (const d of ds) io.err(formatDiagnostic(d, source));
  if (ds.length) io.err(`\n${ds.length} error${ds.length === 1 ? '' : 's'}.`);
}

export function formatCount(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n);
}

/** An option that names nothing in FILE (driver/frontend.ts) is a usage error, worded as its flag. */
export function asUsageError(e: unknown): never {
  if (e instanceof OptionError) throw new UsageError(`--${e.option} ${e.value}: ${e.detail}`);
  throw e;
}

/**
 * Runs the pipeline on FILE for a command: options that name nothing in the file are
 * usage errors; diagnostics are reported and give undefined.
 */
export async function compileFile(file: string, source: string, v: Values, io: Io, opts: CompileOptions = {}): Promise<Compiled | undefined> {
  const r = await compile(source, file, { ...frontendOptions(v), ...opts }).catch(asUsageError);
  if (r.diagnostics.length) {
    report(r.diagnostics, source, !!v['json'], io, { file, ok: false });
    return undefined;
  }
  return r;
}
