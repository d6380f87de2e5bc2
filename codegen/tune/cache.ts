/**
 * The tuning cache: a JSON file of the fastest matmul configuration per adapter and
 * shape class, and of the row-kernel threshold per adapter. It is only ever read when a caller asks for a tuned target; codegen
 * never reads it by itself, so `mdc compile` output does not depend on it. A missing,
 * stale or corrupt file costs speed, never correctness (every configuration is correct,
 * and codegen re-checks each against the shape it is used for).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { MatmulConfig, TuningTable } from '../kernels/matmul/config.js';

export const TUNING_FORMAT = 'mdc.tuning';
/**
 * Bumped whenever the kernels a configuration names change enough that old timings no
 * longer rank them (2: the subgroup matmul's run-time shuffle loop and larger blocks); a
 * file of another version reads as empty and is tuned afresh.
 */
const VERSION = 2;

export interface CachedEntry {
  readonly config: MatmulConfig;
  /** Median ms of the winner and the shape it was measured on: [M, N, K, batch]. */
  readonly ms: number;
  readonly shape: readonly [number, number, number, number];
  readonly tunedAt: string;
}

/** The row-kernel threshold chosen for an adapter (codegen/tune/rows.ts). */
export interface RowEntry {
  readonly rowUnits: number;
  readonly tunedAt: string;
}

interface CacheFile {
  readonly format: typeof TUNING_FORMAT;
  readonly version: typeof VERSION;
  readonly adapters: Record<string, Record<string, CachedEntry>>;
  /** Per adapter; absent in files written before row tuning, which then tune rows alone. */
  readonly rows?: Record<string, RowEntry>;
}

/**
 * Where the cache lives: $MDC_CACHE_DIR, else $XDG_CACHE_HOME/mdc, else
 * node_modules/.cache/mdc when run from a package with node_modules, else ~/.cache/mdc.
 */
export function defaultCacheFile(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const dir =
    env['MDC_CACHE_DIR'] ??
    (env['XDG_CACHE_HOME']
      ? join(env['XDG_CACHE_HOME'], 'mdc')
      : existsSync(join(cwd, 'node_modules'))
        ? join(cwd, 'node_modules', '.cache', 'mdc')
        : join(homedir(), '.cache', 'mdc'));
  return join(dir, 'tuning.json');
}

function read(file: string): CacheFile {
  const empty: CacheFile = { format: TUNING_FORMAT, version: VERSION, adapters: {} };
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Partial<CacheFile>;
    return raw.format === TUNING_FORMAT && raw.version === VERSION && typeof raw.adapters === 'object' && raw.adapters ? (raw as CacheFile) : empty;
  } catch {
    return empty;
  }
}

/** The cached entries for one adapter (empty when there are none or the file is unreadable). */
export function loadEntries(adapter: string, file = defaultCacheFile()): Readonly<Record<string, CachedEntry>> {
  return read(file).adapters[adapter] ?? {};
}

/** The tuning table for `adapter`, for `KernelTarget.tuning`; undefined when nothing is cached. */
export function loadTuning(adapter: string, file = defaultCacheFile()): TuningTable | undefined {
  const entries = loadEntries(adapter, file);
  const configs = Object.fromEntries(
    Object.entries(entries)
      .filter(([, e]) => e && typeof e.config === 'object')
      .map(([k, e]) => [k, e.config]),
  );
  return Object.keys(configs).length ? { adapter, entries: configs } : undefined;
}

/** The adapter's cached row-kernel threshold, if a valid one is cached. */
export function loadRowUnits(adapter: string, file = defaultCacheFile()): number | undefined {
  const r = read(file).rows?.[adapter]?.rowUnits;
  return typeof r === 'number' && Number.isInteger(r) && r > 0 ? r : undefined;
}

/** Merges `entries` (and a row-kernel threshold) into the adapter's cache (written to a temporary file, then renamed into place). */
export function saveEntries(adapter: string, entries: Readonly<Record<string, CachedEntry>>, file = defaultCacheFile(), rows?: RowEntry): void {
  const cache = read(file);
  const next: CacheFile = {
    ...cache,
    adapters: { ...cache.adapters, [adapter]: { ...cache.adapters[adapter], ...entries } },
    ...(rows || cache.rows ? { rows: { ...cache.rows, ...(rows ? { [adapter]: rows } : {}) } } : {}),
  };
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(next, null, 1) + '\n');
  renameSync(tmp, file);
}
