/**
 * Seals a plan with the SHA-256 of its contents (runtime/integrity.ts says what is hashed
 * and why). Synchronous and free of Node's modules, so the compiler can run in a browser:
 * `@noble/hashes` (audited, dependency-free SHA-256) rather than node:crypto.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { sealedText } from '../runtime/integrity.js';
import type { Plan } from '../runtime/plan.js';

/** `plan` with its `integrity` field (last) set to the digest of everything else. */
export function seal(plan: Plan): Plan {
  return sealAny(plan);
}

/** Any artifact the runtime checks the same way (a pipelined plan): its `integrity` set to the digest of the rest. */
export function sealAny<T extends object>(artifact: T): T & { integrity: string } {
  return { ...artifact, integrity: `sha256-${bytesToHex(sha256(utf8ToBytes(sealedText(artifact))))}` };
}
