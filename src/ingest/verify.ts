/**
 * Webhook authenticity checks. Constant-time throughout: no early exit on the first
 * differing byte, and no length leak.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { signatureHmacs } from '../metrics';

const SIGNATURE_HEADER = /^sha256=([0-9a-f]{64})$/i;

/**
 * The 32-byte digest of a well-formed `X-Hub-Signature-256: sha256=<64 hex>` header, or
 * undefined: a post with anything else is refused before its body is read.
 */
export function metaSignatureDigest(header: string | undefined): Buffer | undefined {
  if (typeof header !== 'string' || header.length > 100) return undefined;
  const match = SIGNATURE_HEADER.exec(header.trim());
  return match ? Buffer.from(match[1], 'hex') : undefined;
}

/**
 * The secrets (of `secrets`, each distinct one HMAC'd once) whose HMAC-SHA256 of the raw
 * body is `digest`. Empty secrets are ignored. Every secret is computed (no early exit).
 */
export function metaSecretsThatSigned(rawBody: Buffer, digest: Buffer, secrets: Iterable<string>): Set<string> {
  const signed = new Set<string>();
  for (const secret of new Set(secrets)) {
    if (typeof secret !== 'string' || secret === '') continue;
    signatureHmacs.inc();
    const expected = createHmac('sha256', secret).update(rawBody).digest();
    if (timingSafeEqual(expected, digest)) signed.add(secret);
  }
  return signed;
}

/**
 * Meta's `X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 of the raw body bytes, keyed
 * with the app secret (§2.2). Compute it over the bytes as received: Meta escapes
 * non-ASCII (`\u00e7`), so a re-serialised body would not match. Several secrets allow a
 * rotation (or several apps); empty secrets are ignored. False on a missing or malformed
 * header.
 */
export function verifyMetaSignature(rawBody: Buffer, header: string | undefined, secrets: string[]): boolean {
  const digest = metaSignatureDigest(header);
  if (!digest || !Buffer.isBuffer(rawBody)) return false;
  // Every secret is checked (no early return) so timing does not tell which one matched.
  return metaSecretsThatSigned(rawBody, digest, secrets).size > 0;
}

/** Constant-time string equality (tokens, shared secrets): both sides are hashed first so
 *  the comparison never depends on, or reveals, their lengths. */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}
