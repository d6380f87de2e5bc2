import { escapeControls } from '../../diagnostics/format.js';
import { BOM } from '../../diagnostics/span.js';
import { format } from '../../grammar/format.js';
import { parse } from '../../grammar/parse.js';
import { writeAtomic } from '../files.js';
import { EXIT, report, UsageError, type Command } from '../options.js';

export const command: Command = {
  help: `Usage: mdc fmt FILE [--write | --check]

Formats FILE canonically; comments are kept, and so is a byte-order mark at its start.
Lines end in LF (CRLF and CR become LF). Without options the result goes to stdout.

Options:
  -w, --write        rewrite FILE in place (atomically)
  --check            exit 1 if FILE is not formatted; write nothing
  --json             print the result (the text, or whether FILE is formatted or was
                     rewritten) and any diagnostics as JSON`,
  options: { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' }, write: { type: 'boolean', short: 'w' }, check: { type: 'boolean' } },
  run(file, source, v, io) {
    if (v['write'] && v['check']) throw new UsageError('fmt takes --write or --check, not both');
    const r = parse(source, file);
    if (r.diagnostics.length) {
      report(r.diagnostics, source, !!v['json'], io, { file, ok: false });
      return EXIT.diagnostics;
    }
    // Layout only: a byte-order mark the file starts with stays, so --check and --write agree on such a file.
    const formatted = (source.startsWith(BOM) ? BOM : '') + format(r.program, r.lines.text);
    const json = !!v['json'];
    const changed = formatted !== source;
    if (v['check']) {
      if (json) io.out(JSON.stringify({ file, ok: !changed, formatted: !changed, diagnostics: [] }, null, 2));
      else if (changed) io.err(`${escapeControls(file)}: not formatted`);
      else io.out(`${escapeControls(file)}: formatted`);
      return changed ? EXIT.diagnostics : EXIT.ok;
    }
    if (v['write']) {
      if (changed) writeAtomic(file, formatted);
      if (json) io.out(JSON.stringify({ file, ok: true, written: changed, diagnostics: [] }, null, 2));
      return EXIT.ok;
    }
    if (json) io.out(JSON.stringify({ file, ok: true, text: formatted, diagnostics: [] }, null, 2));
    else io.out(formatted.replace(/\n$/, ''));
    return EXIT.ok;
  },
};
