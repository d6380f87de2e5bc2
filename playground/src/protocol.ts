/** The messages between the page and the compiler's worker (structured-cloned plain data). */
import type { Diagnostic } from '../../diagnostics/messages.js';
import type { Plan } from '../../runtime/plan.js';

export interface CompileRequest {
  readonly id: number;
  /** `check`: diagnostics only (as you type); `plan`: the whole pipeline to a runtime plan (Run). */
  readonly kind: 'check' | 'plan';
  readonly source: string;
  readonly file: string;
  readonly preset?: string;
  readonly seed?: number;
}

export interface CompileResponse {
  readonly id: number;
  readonly diagnostics: readonly Diagnostic[];
  readonly plan?: Plan;
  /** The compiler threw (a bug, or a limit of the browser build): the message. */
  readonly error?: string;
  readonly ms: number;
}
