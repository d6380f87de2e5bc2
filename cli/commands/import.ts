import { statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { formatDiagnostic } from '../../diagnostics/format.js';
import { compile } from '../../driver/compile.js';
import { WEIGHTS_MAP_FORMAT, WEIGHTS_MAP_VERSION, type WeightsMap } from '../../runtime/weights-map.js';
import { readInputFile, writeAtomic } from '../files.js';
import { EXIT, pairs, UsageError, type Command } from '../options.js';

/** protobuf's own limit on one message: no ONNX file with its weights inside is larger. */
const MAX_ONNX_BYTES = 2 ** 31 - 1;

export const command: Command = {
  help: `Usage: mdc import MODEL.onnx -o OUT.model [options]

Reads an ONNX model and writes three files:
  OUT.model          the graph as .model source: one model whose inputs are the graph's,
                     a param per float initializer the graph reads, a let per node
  OUT.safetensors    the params' values, under their ONNX names
  OUT.weights.json   the name map from those to the params' names in OUT.model, which
                     \`mdc run OUT.model --weights OUT.safetensors\` reads

Every dim must be static: a symbolic input dim (dim_param) needs --dim NAME=N.
Constant shape arithmetic (Shape, Gather, Concat, Range, ...) is folded. An operator mdc
has no op for is named with every node that uses it; then, as for any other problem
(malformed file, missing initializer), nothing is written. docs/onnx.md lists the
operators that import.

Options:
  -o, --out FILE     the .model file to write (required); the other two go beside it
  --dim NAME=N       the size of a symbolic dim of the graph's inputs (repeatable)
  --name NAME        the model's name in the source (default: from the graph's name)
  --force            replace OUT files that exist
  --json             print the result (or the error) as JSON`,
  options: {
    help: { type: 'boolean', short: 'h' },
    json: { type: 'boolean' },
    out: { type: 'string', short: 'o' },
    dim: { type: 'string', multiple: true },
    name: { type: 'string' },
    force: { type: 'boolean' },
  },
  run() {
    throw new Error('mdc import reads its FILE itself');
  },
  async binaryFile(file, v, io) {
    const out = v['out'];
    if (typeof out !== 'string') throw new UsageError('mdc import needs -o OUT.model, the source file to write');
    if (extname(out) !== '.model') throw new UsageError(`-o ${out}: the source file must end in .model`);
    const name = v['name'];
    if (name !== undefined && (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)))
      throw new UsageError(`--name ${String(name)}: a model name is an identifier (letters, digits, _)`);
    const stem = join(dirname(out), basename(out, '.model'));
    const files = { model: out, weights: `${stem}.safetensors`, map: `${stem}.weights.json` };
    for (const f of Object.values(files)) {
      const st = statSync(f, { throwIfNoEntry: false });
      if (st?.isDirectory()) throw new UsageError(`${f} is a folder`);
      if (st && !v['force']) throw new UsageError(`${f} exists; pass --force to replace it`);
    }
    const dims = pairs(v['dim'], 'dim');
    const bytes = readInputFile(file, 'the ONNX file', MAX_ONNX_BYTES);

    const { importOnnx } = await import('../../compiler/onnx/import.js');
    const imported = importOnnx(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
      dims,
      file,
      ...(typeof name === 'string' ? { name } : {}),
    });
    // The source must compile before anything is written: the plan is also what the weights are checked against.
    const c = await compile(imported.source, files.model, {});
    if (!c.plan) {
      const why = c.diagnostics.map((d) => formatDiagnostic(d, imported.source)).join('\n');
      throw new Error(`the source imported from ${file} does not compile, which is a bug in mdc import:\n${why}`);
    }
    // The file keeps the ONNX names (a map pattern cannot hold braces: those few go by their source names).
    const map: WeightsMap = { name: imported.model, entries: imported.params.map((p) => ({ source: /[{}]/.test(p.onnx) ? p.name : p.onnx, target: p.name })) };
    const { saveWeights } = await import('../../runtime/weights-node.js');
    await saveWeights(files.weights, new Map(imported.params.map((p) => [p.name, p.data])), c.plan, map, {
      metadata: { source: `mdc import ${basename(file)}` },
    });
    writeAtomic(files.map, JSON.stringify({ format: WEIGHTS_MAP_FORMAT, version: WEIGHTS_MAP_VERSION, ...map }, null, 2) + '\n');
    writeAtomic(files.model, imported.source);
    const count = imported.params.reduce((s, p) => s + p.data.length, 0);
    if (v['json'])
      io.out(
        JSON.stringify({ file, ok: true, model: imported.model, files, params: imported.params.length, values: count, opTypes: imported.opTypes }, null, 2),
      );
    else
      io.out(
        `wrote ${files.model} (model ${imported.model}: ${imported.opTypes.length} ONNX operator types, ${imported.params.length} params, ${count} values), ` +
          `${files.weights} and ${files.map}`,
      );
    return EXIT.ok;
  },
};
