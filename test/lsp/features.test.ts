/** Each feature of the language server, through the real `mdc lsp --stdio` process. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CodeAction, CodeLens, DocumentSymbol, InlayHint, SignatureHelp, TextEdit } from 'vscode-languageserver-protocol';
import { TINY } from './sample.js';
import { applyEdits, Client, diagnosticText, expectCompletion, expectDefinition, expectDiagnostics, expectHover, expectReferences, rename } from './support.js';

let c: Client;
beforeAll(async () => {
  c = await Client.start();
}, 30_000);
afterAll(async () => {
  await c.stop();
  expect(c.stderr).toBe('');
});

/** TINY with a marker before the `nth` occurrence of `word`. */
const at = (word: string, nth = 0, text = TINY) => {
  let i = -1;
  for (let k = 0; k <= nth; k++) i = text.indexOf(word, i + 1);
  if (i < 0) throw new Error(`no ${word} #${nth}`);
  return text.slice(0, i) + '<|>' + text.slice(i);
};

describe('diagnostics', () => {
  it('publishes none for a correct model', () => expectDiagnostics(c, TINY, []));

  it('publishes what mdc check prints, with the same codes and spans', async () => {
    const broken = TINY.replace('rms_norm(x, g)', 'rms_norm(xx, g)').replace(
      'f32[d, d@tp] = normal(0, 0.02)\n  param wk',
      'f33[d, d@tp] = normal(0, 0.02)\n  param wk',
    );
    const dir = mkdtempSync(join(tmpdir(), 'mdc-lsp-'));
    writeFileSync(join(dir, 'doc.model'), broken);
    let printed = '';
    try {
      execFileSync(process.execPath, ['--import', 'tsx', 'cli/bin.ts', 'check', join(dir, 'doc.model')], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      printed = (e as { stdout: string; stderr: string }).stderr + (e as { stdout: string }).stdout;
    }
    const lines = printed
      .split('\n')
      .filter((l) => / error MDC/.test(l))
      .map((l) => l.slice(l.lastIndexOf('doc.model')));
    expect(lines).toEqual([
      "doc.model:14:13: error MDC0111: unknown dtype 'f33': expected one of f32, f16, bf16, i32, bool",
      "doc.model:18:20: error MDC0101: unknown name 'xx'; did you mean 'x'?",
    ]);
    const uri = 'file:///x/doc.model';
    await c.open(broken, uri);
    const published = (await c.diagnostics(uri)).diagnostics.map((d) => diagnosticText('doc.model', d));
    await c.close(uri);
    expect(published).toEqual(lines);
  }, 30_000);

  it('follows edits: only the newest version is published', async () => {
    const uri = await c.open(TINY);
    expect((await c.diagnostics(uri, 1)).diagnostics).toEqual([]);
    const edits = ['rms_norm(x, gg)', 'rms_norm(x, g2)', 'rms_norm(x, g)'];
    edits.forEach(
      (e, i) =>
        void c.rpc.sendNotification('textDocument/didChange', {
          textDocument: { uri, version: 2 + i },
          contentChanges: [{ text: TINY.replace('rms_norm(x, g)', e) }],
        }),
    );
    const last = await c.diagnostics(uri, 4);
    expect(last.version).toBe(4);
    expect(last.diagnostics).toEqual([]);
    await c.rpc.sendNotification('textDocument/didChange', {
      textDocument: { uri, version: 5 },
      contentChanges: [{ range: { start: { line: 17, character: 22 }, end: { line: 17, character: 23 } }, text: 'gg' }],
    });
    expect((await c.diagnostics(uri, 5)).diagnostics.map((d) => diagnosticText('m', d))).toEqual([
      "m:18:23: error MDC0101: unknown name 'gg'; did you mean 'g'?",
    ]);
    await c.close(uri);
  });

  it('keeps several documents apart', async () => {
    const a = await c.open(TINY);
    const b = await c.open(TINY.replace('heads = heads', 'heads = head'));
    expect((await c.diagnostics(b)).diagnostics.map((d) => d.code)).toEqual(['MDC0101']);
    expect((await c.diagnostics(a)).diagnostics).toEqual([]);
    await c.close(a);
    await c.close(b);
  });
});

describe('hover', () => {
  it('shows a value with its layout, bytes per device and doc', () =>
    expectHover(c, at('tokens: i32'), ['input tokens: i32[B@dp, S]', 'at concrete dims: `i32[2@dp, 32]` · 128 bytes per device (256 in all)']));
  it('shows a parameter split over tp', () => expectHover(c, at('wq', 1), ['param wq: f32[64, 64@tp]', '8,192 bytes per device (16,384 in all)']));
  it("shows a let's type and its op's FLOPs", () =>
    expectHover(c, at('logits = '), ['let logits: f32[B, S, 256]', 'at concrete dims: `f32[2, 32, 256]` · 65,536 bytes · 2,097,152 FLOPs']));
  it('shows an op with its arguments and doc', () =>
    expectHover(c, at('attention('), [
      'attention(q, k, v, mask = none, heads, kv_heads = 0, causal = false, scale = 0)',
      '524,288 FLOPs',
      'multi-head scaled dot-product',
    ]));
  it("shows a block's signature and doc comment", () =>
    expectHover(c, at('Layer(embedding'), ['block Layer(x: f32[B, S, d]) -> f32[B, S, d]', 'Pre-norm causal self-attention with a residual connection.']));
  it('shows a config constant', () =>
    expectHover(c, at('heads)', 0, TINY.replace('heads = heads', 'heads = heads)')).replace('heads)', 'heads'), ['const heads = 4']));
});

describe('completion', () => {
  it('offers names in scope, constants, ops, blocks and dtypes', () =>
    expectCompletion(c, at('let n'), ['x', 'g', 'wq', 'd', 'layers', 'rms_norm', 'attention', 'Layer', 'f16', 'let'], ['wte', 'logits']));
  it("offers an op's keyword arguments inside its call", () => expectCompletion(c, at('causal = true'), ['causal = ', 'heads = ', 'kv_heads = ']));
  it('offers mesh axes after @ in a type', () => expectCompletion(c, at('tp] = normal(0, 0.02)\n  param wk'), ['dp', 'tp'], ['rms_norm', 'x']));
});

describe('navigation', () => {
  it('goes to a local definition', () => expectDefinition(c, at('n @ wk'), '18:7-18:8'));
  it('goes to a config constant', () => expectDefinition(c, at('layers)'), '8:3-8:9'));
  it('goes to a block', () => expectDefinition(c, at('Layer(embedding'), '12:7-12:12'));
  it('goes to a mesh axis', () => expectDefinition(c, at('dp, S]'), '2:17-2:19'));
  it('goes nowhere from an op', () => expectDefinition(c, at('rms_norm'), null));
  it('finds references, the declaration first', () => expectReferences(c, at('wte', 1), ['23:9-23:12', '24:42-24:45', '25:30-25:33']));
  it('renames a name and its uses, not a same-named name elsewhere', async () => {
    const text = 'block A(x: f32[4]) -> f32[4] {\n  let y = x * 2\n  return y + x\n}\nmodel M(x: f32[4]) -> f32[4] {\n  return A(x)\n}\n';
    expect(await rename(c, text.replace('x * 2', '<|>x * 2'), 'inp')).toBe(
      text.replace('A(x: f32[4])', 'A(inp: f32[4])').replace('x * 2', 'inp * 2').replace('y + x', 'y + inp'),
    );
  });
  it('refuses to rename to a keyword', async () => {
    await expect(rename(c, at('wte', 1), 'model')).rejects.toThrow("'model' is not a name");
  });
  it('lists the symbols as an outline', async () => {
    const syms = await c.with(TINY, (uri) => c.request<DocumentSymbol[]>('textDocument/documentSymbol', { textDocument: { uri } }));
    const show = (s: DocumentSymbol): string => s.name + (s.children?.length ? `(${s.children.map(show).join(' ')})` : '');
    expect(syms.map(show)).toEqual(['Cluster(dp tp)', 'Tiny(vocab d heads layers)', 'Layer(x g wq wk wv wo n)', 'Tiny(tokens wte h logits)']);
  });
});

describe('presentation', () => {
  it('formats with mdc fmt', async () => {
    const messy = 'model M(x: f32[4]) -> f32[4] {\n    let   y = x*2\n  return y\n}\n';
    const edits = await c.with(messy, (uri) =>
      c.request<TextEdit[]>('textDocument/formatting', { textDocument: { uri }, options: { tabSize: 2, insertSpaces: true } }),
    );
    expect(applyEdits(messy, edits)).toBe('model M(x: f32[4]) -> f32[4] {\n  let y = x * 2\n  return y\n}\n');
  });
  it('folds declarations', async () => {
    const folds = await c.with(TINY, (uri) => c.request<{ startLine: number; endLine: number }[]>('textDocument/foldingRange', { textDocument: { uri } }));
    expect(folds.map((f) => `${f.startLine}-${f.endLine}`)).toEqual(['3-7', '11-18', '21-25', '28-30']);
  });
  it('gives signature help inside a call', async () => {
    const h = await c.with(at('g)'), (uri, m) => c.request<SignatureHelp>('textDocument/signatureHelp', { textDocument: { uri }, position: m.position }));
    expect(h.signatures[0]!.label).toBe('rms_norm(x: tensor, weight: tensor, eps: float)');
    expect(h.activeParameter).toBe(1);
  });
  it('shows inferred shapes as inlay hints', async () => {
    const hints = await c.with(TINY, (uri) =>
      c.request<InlayHint[]>('textDocument/inlayHint', { textDocument: { uri }, range: { start: { line: 0, character: 0 }, end: { line: 40, character: 0 } } }),
    );
    expect(hints.map((h) => `${h.position.line + 1}:${h.position.character + 1}${String(h.label)}`)).toEqual([
      '18:8: f32[B, S, 64]',
      '24:8: f32[B, S, 64]',
      '25:13: f32[B, S, 256]',
    ]);
  });
  it('counts each block’s parameters in a code lens', async () => {
    const lenses = await c.with(TINY, (uri) => c.request<CodeLens[]>('textDocument/codeLens', { textDocument: { uri } }));
    expect(lenses.map((l) => `${l.range.start.line + 1}: ${l.command!.title}`)).toEqual(['12: 16,448 parameters', '22: 16,384 parameters']);
  });
  it('colours names by what they are', async () => {
    const toks = await c.with('config C { d = 4 }\nmodel M(x: f32[d]) -> f32[d] {\n  return relu(x)\n}\n', (uri) =>
      c.request<{ data: number[] }>('textDocument/semanticTokens/full', { textDocument: { uri } }),
    );
    const legend = {
      types: ['namespace', 'class', 'function', 'variable', 'parameter', 'property', 'enumMember', 'typeParameter'],
      mods: ['declaration', 'readonly', 'defaultLibrary'],
    };
    const shown: string[] = [];
    for (let k = 0, line = 0, ch = 0; k < toks.data.length; k += 5) {
      const [dl, dc, len, type, mods] = toks.data.slice(k, k + 5) as [number, number, number, number, number];
      ch = dl ? dc : ch + dc;
      line += dl;
      shown.push([`${line + 1}:${ch + 1}/${len}`, legend.types[type], ...legend.mods.filter((_, b) => mods & (1 << b))].join(' '));
    }
    expect(shown).toEqual([
      '1:8/1 namespace declaration',
      '1:12/1 variable declaration readonly',
      '2:7/1 class declaration',
      '2:9/1 parameter declaration',
      '2:16/1 variable readonly',
      '2:27/1 variable readonly',
      '3:10/4 function defaultLibrary',
      '3:15/1 parameter',
    ]);
  });
  it('offers did-you-mean quick fixes', async () => {
    const broken = TINY.replace('rms_norm(x, g)', 'rms_norm(xx, g)');
    const uri = await c.open(broken);
    const ds = (await c.diagnostics(uri)).diagnostics;
    const actions = await c.request<CodeAction[]>('textDocument/codeAction', { textDocument: { uri }, range: ds[0]!.range, context: { diagnostics: ds } });
    await c.close(uri);
    expect(actions.map((a) => a.title)).toEqual(["Change to 'x'"]);
    expect(applyEdits(broken, actions[0]!.edit!.changes![uri]!)).toBe(TINY);
  });

  it('offers to replicate a dim its split does not divide, or to split it over an axis that does', async () => {
    const text = 'mesh D = [dp: 2, tp: 4]\nmodel M(x: f32[8, 6@tp]) -> f32[8, 6] {\n  return x\n}\n';
    const uri = await c.open(text);
    const ds = (await c.diagnostics(uri)).diagnostics;
    expect(ds.map((d) => `${d.code} ${d.message}`)).toEqual(['MDC0402 dim 6 of f32[8, 6@tp] is not divisible by tp (4 devices)']);
    const actions = await c.request<CodeAction[]>('textDocument/codeAction', { textDocument: { uri }, range: ds[0]!.range, context: { diagnostics: ds } });
    await c.close(uri);
    expect(actions.map((a) => [a.title, a.isPreferred])).toEqual([
      ['Replicate this dim (remove @tp)', true],
      ['Split over dp instead (2 devices)', false],
    ]);
    expect(applyEdits(text, actions[0]!.edit!.changes![uri]!)).toContain('model M(x: f32[8, 6]) -> f32[8, 6] {');
    expect(applyEdits(text, actions[1]!.edit!.changes![uri]!)).toContain('model M(x: f32[8, 6@dp]) -> f32[8, 6] {');
  });
});
