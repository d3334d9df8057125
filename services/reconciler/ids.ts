/**
 * Deterministic ids: the same inputs always give the same id, so a replayed event yields the same
 * link, command and conflict ids and egress can drop what it already applied.
 * RFC 4122 version 5 (SHA-1, name-based) under a fixed Lockstep namespace.
 */
import { createHash } from 'node:crypto';

export type IdFn = (...parts: string[]) => string;

// A fixed namespace for Lockstep's ids; changing it changes every id, so never change it.
const NAMESPACE = Buffer.from('3f0c9a52d1e85a8f9b3c6e1d2a4f7b90', 'hex');

export const deterministicId: IdFn = (...parts) => {
  const hash = createHash('sha1');
  hash.update(NAMESPACE);
  // Length-prefix each part so ('ab','c') and ('a','bc') differ.
  for (const p of parts) hash.update(`${p.length}:${p}`);
  const b = hash.digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x50;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
