import { describe, expect, it } from 'vitest';
import { mdc } from '../support/cli.js';
import { TINY } from './sample.js';
import { Client, expectDiagnostics } from './support.js';

describe('mdc lsp transports', () => {
  it('--node-ipc: the same server over Node’s IPC channel', async () => {
    const c = await Client.start(false, 'node-ipc');
    try {
      await expectDiagnostics(c, TINY, []);
      const broken = TINY.replace('rms_norm(x, g)', 'rms_norm(xx, g)');
      await c.with(broken, async (uri) => {
        const p = await c.diagnostics(uri);
        expect(p.diagnostics.map((d) => d.code)).toEqual(['MDC0101']);
      });
    } finally {
      await c.stop();
    }
  });

  it('refuses to start without exactly one transport, and takes no FILE', async () => {
    expect(await mdc('lsp')).toMatchObject({ code: 2, err: expect.stringContaining('mdc: lsp needs one transport: --stdio or --node-ipc') });
    expect(await mdc('lsp', '--stdio', '--node-ipc')).toMatchObject({ code: 2, err: expect.stringContaining('mdc: lsp needs one transport') });
  });
});
