import { main } from '../../cli/main.js';

/** `mdc ARGS` run in this process, its exit code and what it printed to stdout and stderr (lines joined). */
export async function mdc(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Node's arguments that run the CLI from source as a real process: `spawnSync(process.execPath, [...MDC_PROCESS, ...args])`. */
export const MDC_PROCESS = ['--import', 'tsx', 'cli/bin.ts'];

/** A text every Debian machine has, for byte-level training runs. */
export const TRAIN_TEXT = '/usr/share/common-licenses/GPL-3';

/** `mdc train` on the gpt2 sample's tiny preset as a byte-level model over TRAIN_TEXT; add the run's own options. */
export const TRAIN_GPT2_TINY = ['train', 'samples/gpt2.model', '--preset', 'tiny', '--set', 'vocab=256', '--data', TRAIN_TEXT];
