/**
 * Who may post a webhook. Meta signs bodies (checked in the Meta route); Evolution and
 * LancePilot do not, so each channel has a shared secret that arrives as a custom header,
 * `?token=`, or (Evolution's `jwt_key` header setting) an HS256 JWT signed with it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { safeEqual } from './verify';
import { credentialHash } from './channelDirectory';

const SECRET_HEADERS = ['x-zapflow-secret', 'x-webhook-secret', 'x-webhook-token', 'x-api-key', 'apikey'];

export interface PresentedCredentials {
  /** Plain shared secrets from headers, `?token=` and a non-JWT bearer. */
  tokens: string[];
  /** A bearer that looks like a JWT. */
  jwt?: string;
}

export function presentedCredentials(req: Request): PresentedCredentials {
  const tokens: string[] = [];
  for (const name of SECRET_HEADERS) {
    const value = req.header(name);
    if (value) tokens.push(value.trim());
  }
  const query = req.query.token;
  if (typeof query === 'string' && query) tokens.push(query);
  let jwt: string | undefined;
  const auth = req.header('authorization');
  const bearer = auth?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
  if (bearer) {
    if (bearer.split('.').length === 3) jwt = bearer;
    else tokens.push(bearer);
  }
  return { tokens, jwt };
}

/** HS256 JWT signed with `secret` and not expired (Evolution: `{iat, exp: iat+600}`). */
export function verifyHs256Jwt(token: string, secret: string, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  const [header, payload, signature] = token.split('.');
  if (!header || !payload || !signature) return false;
  try {
    const { alg } = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: unknown };
    if (alg !== 'HS256') return false;
    const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest();
    const received = Buffer.from(signature, 'base64url');
    if (received.length !== expected.length || !timingSafeEqual(received, expected)) return false;
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown };
    // A minute of clock skew between Evolution's host and ours.
    return typeof claims.exp !== 'number' || claims.exp + 60 >= nowSeconds;
  } catch {
    return false;
  }
}

/** True when any presented credential equals one of `secrets` (constant time per pair). */
export function matchesAnySecret(presented: PresentedCredentials, secrets: Array<string | undefined | null>): boolean {
  let ok = false;
  for (const secret of secrets) {
    if (!secret) continue;
    for (const token of presented.tokens) ok = safeEqual(token, secret) || ok;
    if (presented.jwt) ok = verifyHs256Jwt(presented.jwt, secret) || ok;
  }
  return ok;
}

/** Two credential hashes (hex, credentialHash) are equal: constant time; a missing stored hash matches nothing. */
export function hashesEqual(stored: string | null | undefined, presented: string): boolean {
  if (!stored || stored.length !== presented.length) return false;
  return timingSafeEqual(Buffer.from(stored, 'utf8'), Buffer.from(presented, 'utf8'));
}

/**
 * The first of `candidates` (found by credential hash) whose stored `webhookSecretHash`
 * equals the hash of one of the presented tokens, compared in constant time, and that
 * `accept` allows (e.g. the account named in the path).
 */
export function channelForPresentedSecret<C extends { channel: { webhookSecretHash: string | null } }>(
  candidates: C[],
  presented: PresentedCredentials,
  accept: (candidate: C) => boolean = () => true,
): C | undefined {
  const hashes = presented.tokens.filter((t) => t !== '').map(credentialHash);
  return candidates.find((c) => {
    let ok = false;
    for (const hash of hashes) ok = hashesEqual(c.channel.webhookSecretHash, hash) || ok;
    return ok && accept(c);
  });
}
