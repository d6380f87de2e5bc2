import { format } from '../../grammar/format.js';
import { parse } from '../../grammar/parse.js';
import { writeAtomic } from '../files.js';
import { EXIT, report, UsageError, type Command } from '../options.js';

export const command: Command = {
  help: `Usage: mdc fmt FILE [--write | --check]

Formats FILE canonically; comments are kept. Without options the result goes to stdout.

Options:
  -w, --write        rewrite FILE in place (atomically)
  --check            exit 1 if FILE is not formatted; write nothing
  --json             print diagnostics as JSON`,
  options: { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' }, write: { type: 'boolean', short: 'w' }, check: { type: 'boolean' } },
  run(file, source, v, io) {
    if (v['write'] && v['check']) throw new UsageError('fmt takes --write or --check, not both');
    const r = parse(source, file);
    if (r.diagnostics.length) {
      report(r.diagnostics, source, !!v['json'], io, { file, ok: false });
      return EXIT.diagnostics;
    }
    const formatted = format(r.program, source);
    if (v['check']) {
      if (formatted !== source) {
        io.err(`${file}: not formatted`);
        return EXIT.diagnostics;
      }
      io.out(`${file}: formatted`);
      return EXIT.ok;
    }
    if (v['write']) {
      if (formatted !== source) writeAtomic(file, formatted);
      return EXIT.ok;
    }
    io.out(formatted.replace(/\n$/, ''));
    return EXIT.ok;
  },
};
