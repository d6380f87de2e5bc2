/** The page's side of the compiler worker: one request, one promised response, matched by id. */
import type { CompileRequest, CompileResponse } from './protocol.js';

export class CompilerClient {
  private next = 1;
  private readonly pending = new Map<number, (r: CompileResponse) => void>();

  constructor(private readonly worker: Worker) {
    worker.onmessage = (e: MessageEvent<CompileResponse>) => {
      const done = this.pending.get(e.data.id);
      this.pending.delete(e.data.id);
      done?.(e.data);
    };
    worker.onerror = (e) => {
      // A worker that fails to load or throws at top level answers nothing: fail every waiting request with the reason.
      for (const [id, done] of this.pending) done({ id, diagnostics: [], error: `the compiler worker failed: ${e.message}`, ms: 0 });
      this.pending.clear();
    };
  }

  request(req: Omit<CompileRequest, 'id'>): Promise<CompileResponse> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage({ ...req, id } satisfies CompileRequest);
    });
  }
}
