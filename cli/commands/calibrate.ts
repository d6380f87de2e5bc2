import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { totalmem } from 'node:os';
import { UsageError, type Command } from '../options.js';

export const command: Command = {
  help: `Usage: mdc calibrate [--name NAME] [--out FILE] [--quick] [--json]

Measures this machine's WebGPU adapter (matmul and attention rates, streaming bandwidth,
the time of a run, the host hop multi-device runs use for collectives) and writes a
hardware description that mdc plan --hardware NAME reads (docs/cost-model.md). It takes
no FILE.

Options:
  --name NAME        the description's name (default llvmpipe)
  --out FILE         where to write it (default hardware/NAME.json in mdc's folder)
  --quick            smaller sizes and fewer runs (a few seconds)
  --json             print the description (with the raw measurements) instead of a summary`,
  options: {
    help: { type: 'boolean', short: 'h' },
    name: { type: 'string' },
    out: { type: 'string' },
    quick: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  run() {
    throw new UsageError('calibrate takes no FILE: run mdc calibrate');
  },
  async fileless(v, io) {
    const name = (v['name'] as string | undefined) ?? 'llvmpipe';
    if (!/^[a-z0-9][a-z0-9._-]*$/i.test(name)) throw new UsageError(`--name must be letters, digits, '.', '_' or '-', got '${name}'`);
    const { nodeDevice, adapterSubgroupSize } = await import('../../runtime/node.js');
    const { calibrate } = await import('../../driver/calibrate.js');
    const { hardwareDir } = await import('../../driver/hardware.js');
    const { device, description, adapter } = await nodeDevice();
    const subgroupSize = adapterSubgroupSize(adapter);
    const target = subgroupSize ? { subgroupSize } : {};
    const hw = await calibrate(device, { quick: !!v['quick'], name, adapter: description, memoryBytes: totalmem(), target });
    device.destroy();
    const { measured, ...file } = hw;
    const out = (v['out'] as string | undefined) ?? join(hardwareDir(), `${name}.json`);
    writeFileSync(out, JSON.stringify(file, null, 2) + '\n');
    if (v['json']) io.out(JSON.stringify({ ...file, measured, file: out }, null, 2));
    else {
      const g = (x: number) => `${(x / 1e9).toPrecision(3)}`;
      io.out(`calibrated ${description}`);
      io.out(
        `  matmul ${g(measured['matmulFlops']!)} GFLOP/s, attention ${g(measured['attentionFlops']!)} GFLOP/s, streaming ${g(measured['streamBytesPerSecond']!)} GB/s`,
      );
      const ms = (x: number, digits: number) => `${(x * 1e3).toFixed(digits)} ms`;
      io.out(`  a kernel ${ms(measured['kernelSeconds']!, 3)}, a one-kernel run ${ms(measured['runSeconds']!, 2)}`);
      io.out(`  host hop ${g(measured['hostBytesPerSecond']!)} GB/s + ${ms(measured['hostHopSeconds']!, 3)}`);
      io.out(`wrote ${out}`);
    }
    return 0;
  },
};
