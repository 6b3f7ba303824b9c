/**
 * Webhook authenticity checks. Constant-time throughout: no early exit on the first
 * differing byte, and no length leak.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const SIGNATURE_HEADER = /^sha256=([0-9a-f]{64})$/i;

/**
 * Meta's `X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 of the raw body bytes, keyed
 * with the app secret (§2.2). Compute it over the bytes as received: Meta escapes
 * non-ASCII (`\u00e7`), so a re-serialised body would not match. Several secrets allow a
 * rotation (or several apps); empty secrets are ignored. False on a missing or malformed
 * header.
 */
export function verifyMetaSignature(rawBody: Buffer, header: string | undefined, secrets: string[]): boolean {
  if (typeof header !== 'string' || !Buffer.isBuffer(rawBody)) return false;
  const match = SIGNATURE_HEADER.exec(header.trim());
  if (!match) return false;
  const received = Buffer.from(match[1], 'hex');
  let ok = false;
  for (const secret of secrets) {
    if (typeof secret !== 'string' || secret === '') continue;
    const expected = createHmac('sha256', secret).update(rawBody).digest();
    // Every secret is checked (no early return) so timing does not tell which one matched.
    ok = timingSafeEqual(expected, received) || ok;
  }
  return ok;
}

/** Constant-time string equality (tokens, shared secrets): both sides are hashed first so
 *  the comparison never depends on, or reveals, their lengths. */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}
