import { escapeControls } from '../../diagnostics/format.js';
import { COMMON, compileFile, EXIT, FRONTEND_HELP, type Command } from '../options.js';

export const command: Command = {
  help: `Usage: mdc check FILE [options]

Parses and checks FILE (any extension) and prints diagnostics as
file:line:col: error MDCxxxx: message, with the source line and a caret.

Options:
${FRONTEND_HELP}`,
  options: COMMON,
  async run(file, source, v, io) {
    const r = await compileFile(file, source, v, io, { until: 'check' });
    if (!r) return EXIT.diagnostics;
    if (v['json']) io.out(JSON.stringify({ file, ok: true, diagnostics: [] }, null, 2));
    else io.out(`${escapeControls(file)}: ok`);
    return EXIT.ok;
  },
};
