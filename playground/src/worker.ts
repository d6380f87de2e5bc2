/**
 * The compiler in a web worker: the one pipeline, driver/compile.ts `compile()`, bundled
 * without Node modules (vite.config.ts). A `check` request stops after checking (the
 * diagnostics `mdc check` prints); a `plan` request runs to codegen for a forward pass.
 * Host emission (which loads `typescript`) is not part of the pipeline, so it is never loaded.
 */
import { compile } from '../../driver/compile.js';
import type { CompileRequest, CompileResponse } from './protocol.js';

interface WorkerScope {
  onmessage: ((e: MessageEvent<CompileRequest>) => void) | null;
  postMessage(message: CompileResponse): void;
}
const scope = self as unknown as WorkerScope;

async function answer(req: CompileRequest): Promise<CompileResponse> {
  const t0 = performance.now();
  const opts = { ...(req.preset ? { preset: req.preset } : {}), ...(req.seed !== undefined ? { seed: req.seed } : {}) };
  try {
    const r = await compile(req.source, req.file, { ...opts, ...(req.kind === 'check' ? { until: 'check' as const } : {}) });
    return { id: req.id, diagnostics: r.diagnostics, ...(r.plan ? { plan: r.plan } : {}), ms: performance.now() - t0 };
  } catch (e) {
    return { id: req.id, diagnostics: [], error: e instanceof Error ? e.message : String(e), ms: performance.now() - t0 };
  }
}

scope.onmessage = (e) => void answer(e.data).then((r) => scope.postMessage(r));
