import { main } from '../../cli/main.js';

/** `mdc ARGS` run in this process, its exit code and what it printed to stdout and stderr (lines joined). */
export async function mdc(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}
