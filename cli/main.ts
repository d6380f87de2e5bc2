/**
 * `mdc`: finds the command, parses its options, reads FILE and hands over. Each command
 * lives in cli/commands/<name>.ts and is loaded only when it runs, so `mdc check` never
 * loads the kernel generators, the runtime or the TypeScript compiler.
 */
import { escapeControls } from '../diagnostics/format.js';
import { EXIT, parseCommandArgs, readSource, UsageError, type Command, type Io } from './options.js';

export { EXIT } from './options.js';

const VERSION = '0.1.0';

type Loader = () => Promise<{ command: Command }>;

/** Each command, loaded when it runs. */
const LOAD: Record<string, Loader> = {
  check: () => import('./commands/check.js'),
  compile: () => import('./commands/compile.js'),
  fmt: () => import('./commands/fmt.js'),
  run: () => import('./commands/run.js'),
  plan: () => import('./commands/plan.js'),
  train: () => import('./commands/train.js'),
  generate: () => import('./commands/generate.js'),
  export: () => import('./commands/export.js'),
  import: () => import('./commands/import.js'),
  calibrate: () => import('./commands/calibrate.js'),
  lsp: () => import('./commands/lsp.js'),
};

/** Each command's one-line summary, for `mdc --help` without loading the commands. */
const COMMANDS: Record<keyof typeof LOAD, string> = {
  check: 'check FILE          check a model and print diagnostics',
  compile: 'compile FILE -o DIR emit WGSL kernels, a runtime plan and a typed TypeScript host module',
  fmt: 'fmt FILE            print the file formatted (--write to rewrite it, --check to test)',
  run: 'run FILE            compile and run one forward pass on WebGPU (pipelined with --mesh pp=…)',
  plan: 'plan FILE           partition over a device mesh: layouts, collectives, pipeline, bytes',
  train: 'train FILE --data T train a byte-level language model on a text file on WebGPU',
  generate: 'generate FILE       stream text from --prompt (KV-cache decoding on WebGPU)',
  export: 'export FILE         write the forward graph for another framework (--target onnx -o OUT)',
  import: 'import M.onnx       an ONNX model as .model source and a safetensors weights file (-o OUT)',
  calibrate: 'calibrate           measure the local WebGPU adapter into hardware/NAME.json',
  lsp: 'lsp --stdio         start the language server (also --node-ipc)',
};

const HELP = `mdc ${VERSION}: compiler for .model files

Usage: mdc <command> FILE [options]

Commands:
${Object.values(COMMANDS)
  .map((c) => `  ${c}`)
  .join('\n')}

Run 'mdc <command> --help' for a command's options.
Exit codes: 0 success, 1 diagnostics or runtime error, 2 usage error.`;

const stdio: Io = { out: (s) => process.stdout.write(s + '\n'), err: (s) => process.stderr.write(s + '\n'), interactive: true };

export async function main(argv: readonly string[], io: Io = stdio): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (e) {
    const usage = e instanceof UsageError;
    const msg = e instanceof Error ? e.message : String(e);
    if (wantsJson(argv)) {
      // One shape for every failure that is not a diagnostic, on stdout like the diagnostics' JSON.
      io.out(JSON.stringify({ ok: false, error: { kind: usage ? 'usage' : 'runtime', message: msg } }, null, 2));
      return usage ? EXIT.usage : EXIT.diagnostics;
    }
    // Messages quote file names and option values as given: printed, never obeyed by the terminal.
    if (usage) {
      io.err(`mdc: ${escapeControls(msg, true)}`);
      io.err(`Run 'mdc ${argv[0] && COMMANDS[argv[0]] ? `${argv[0]} ` : ''}--help' for usage.`);
      return EXIT.usage;
    }
    io.err(`mdc: error: ${escapeControls(msg, true)}`);
    if (process.env['MDC_DEBUG'] && e instanceof Error) io.err(e.stack ?? '');
    return EXIT.diagnostics;
  }
}

/** `--json` among the options (before a `--` that ends them): errors are then JSON too. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

async function dispatch(argv: readonly string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    io.out(HELP);
    return cmd ? EXIT.ok : EXIT.usage;
  }
  if (cmd === '--version' || cmd === '-v') {
    io.out(VERSION);
    return EXIT.ok;
  }
  if (!COMMANDS[cmd]) throw new UsageError(`unknown command '${cmd}'; the commands are ${Object.keys(COMMANDS).join(', ')}`);
  const command = (await LOAD[cmd]!()).command;
  const { values, positionals } = parseCommandArgs(cmd, rest, command.options);
  if (values['help']) {
    io.out(command.help);
    return EXIT.ok;
  }
  if (command.fileless) return command.fileless(values, io);
  if (positionals.length !== 1)
    throw new UsageError(
      positionals.length
        ? `${cmd} takes one FILE, got ${positionals.length}: ${positionals.join(', ')}`
        : `${cmd} needs a FILE, e.g. mdc ${cmd} samples/mlp.model`,
    );
  const file = positionals[0]!;
  if (command.binaryFile) return command.binaryFile(file, values, io);
  return command.run(file, readSource(file), values, io);
}
