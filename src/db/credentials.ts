/**
 * Channel credentials at rest: AES-256-GCM under zapflow's secret key, so a database dump or
 * a backup holds no provider token, app secret or API key. Rows are written sealed by the
 * channel queries and opened only where a credential is used: the provider call
 * (channelTarget) and a webhook's authentication.
 *
 * The key comes from ZAPFLOW_SECRET_KEY (32 bytes, base64); without it, the embedded default
 * keeps one in DATA_DIR/secret.key, made on first use, which the server and the CLI both read.
 * Every sealed value names the id of the key that sealed it (the first 8 hex digits of the
 * key's SHA-256), so a rotation can go on while older rows are still under the previous key:
 * ZAPFLOW_SECRET_KEYS_PREVIOUS (comma separated, base64) opens them, and `zapflow secrets
 * rotate` seals every row under the current key.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../config';
import type { ChannelCredentialsColumn } from '../domain/records';
import { logger } from '../log';

/** What the credentials column holds once sealed. `fields`: which credentials are set (not secret). */
export interface SealedCredentials {
  $sealed: 1;
  kid: string;
  iv: string;
  tag: string;
  data: string;
  fields: string[];
}

/** The column: sealed, or plaintext in rows written before sealing (until migrate seals them). */
export type StoredCredentials = SealedCredentials | ChannelCredentialsColumn;

export class SecretKeyError extends Error {
  override name = 'SecretKeyError';
}

interface Key {
  id: string;
  bytes: Buffer;
}

export interface Keyring {
  current: Key;
  /** Every key that may open a value, by id (the current one included). */
  byId: Map<string, Key>;
  /** Where the current key came from, for the start-up log. */
  source: string;
}

const KEY_FILE = 'secret.key';
const PREVIOUS_KEYS_FILE = 'secret.keys.previous';
const ALGORITHM = 'aes-256-gcm';

function keyOf(base64: string, what: string): Key {
  const bytes = Buffer.from(base64.trim(), 'base64');
  if (bytes.length !== 32) throw new SecretKeyError(`${what} must be 32 bytes in base64 (got ${bytes.length} bytes): make one with \`openssl rand -base64 32\``);
  return { id: createHash('sha256').update(bytes).digest('hex').slice(0, 8), bytes };
}

/** The key file of the embedded default, made (readable by its owner only) when absent. */
export function keyFilePath(config: Pick<Config, 'DATA_DIR'>): string {
  return path.join(config.DATA_DIR, KEY_FILE);
}

/** Keys the embedded default rotated away from (`zapflow secrets rotate --generate`), one per line. */
export function previousKeysFilePath(config: Pick<Config, 'DATA_DIR'>): string {
  return path.join(config.DATA_DIR, PREVIOUS_KEYS_FILE);
}

function readOrCreateKeyFile(file: string): { base64: string; created: boolean } {
  try {
    return { base64: fs.readFileSync(file, 'utf8').trim(), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const base64 = randomBytes(32).toString('base64');
  try {
    fs.writeFileSync(file, `${base64}\n`, { mode: 0o600, flag: 'wx' });
    return { base64, created: true };
  } catch (err) {
    // Another process made it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { base64: fs.readFileSync(file, 'utf8').trim(), created: false };
    throw err;
  }
}

export function loadKeyring(config: Pick<Config, 'ZAPFLOW_SECRET_KEY' | 'ZAPFLOW_SECRET_KEYS_PREVIOUS' | 'DATA_DIR'>): Keyring {
  let current: Key;
  let source: string;
  if (config.ZAPFLOW_SECRET_KEY) {
    current = keyOf(config.ZAPFLOW_SECRET_KEY, 'ZAPFLOW_SECRET_KEY');
    source = 'ZAPFLOW_SECRET_KEY';
  } else {
    const file = keyFilePath(config);
    const { base64, created } = readOrCreateKeyFile(file);
    current = keyOf(base64, file);
    source = `${file}${created ? ' (made now: keep it with the database, or set ZAPFLOW_SECRET_KEY)' : ''}`;
  }
  const byId = new Map<string, Key>([[current.id, current]]);
  const previousFromFile = config.ZAPFLOW_SECRET_KEY ? [] : readLines(previousKeysFilePath(config));
  for (const previous of [...config.ZAPFLOW_SECRET_KEYS_PREVIOUS, ...previousFromFile]) {
    const key = keyOf(previous, 'ZAPFLOW_SECRET_KEYS_PREVIOUS');
    if (!byId.has(key.id)) byId.set(key.id, key);
  }
  return { current, byId, source };
}

function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  } catch {
    return [];
  }
}

let loaded: Keyring | undefined;

/**
 * The process's keyring, loaded once from the environment (the server, the worker, the CLI
 * and tests alike); `useKeyring` replaces it (tests, `zapflow secrets rotate`).
 */
export function keyring(): Keyring {
  if (!loaded) {
    loaded = loadKeyring(loadConfig());
    logger.info({ keyId: loaded.current.id, source: loaded.source }, 'channel credentials are encrypted at rest');
  }
  return loaded;
}

export function useKeyring(ring: Keyring | undefined): void {
  loaded = ring;
}

export function isSealed(value: unknown): value is SealedCredentials {
  return typeof value === 'object' && value !== null && (value as { $sealed?: unknown }).$sealed === 1;
}

/** Which credentials are set, without opening them. */
export function credentialFields(value: StoredCredentials | null | undefined): string[] {
  if (!value) return [];
  if (isSealed(value)) return value.fields;
  return Object.entries(value)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k]) => k);
}

/** Seals plaintext credentials under the current key (an already sealed value is kept). */
export function sealCredentials(value: StoredCredentials, ring: Keyring = keyring()): SealedCredentials {
  if (isSealed(value)) return value;
  const plain = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== null));
  const iv = randomBytes(12);
  const cipher = createCipheriv(ALGORITHM, ring.current.bytes, iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(plain), 'utf8'), cipher.final()]);
  return {
    $sealed: 1,
    kid: ring.current.id,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    data: data.toString('base64'),
    fields: Object.keys(plain),
  };
}

/** The plaintext credentials (a row not sealed yet is returned as it is). */
export function openCredentials(value: StoredCredentials | null | undefined, ring: Keyring = keyring()): ChannelCredentialsColumn {
  if (!value) return {};
  if (!isSealed(value)) return value;
  const key = ring.byId.get(value.kid);
  if (!key) {
    throw new SecretKeyError(
      `channel credentials were encrypted with key ${value.kid}, which this process does not have (its key is ${ring.current.id}): ` +
        'set ZAPFLOW_SECRET_KEY to the key the other processes use (and the old one in ZAPFLOW_SECRET_KEYS_PREVIOUS during a rotation)',
    );
  }
  const decipher = createDecipheriv(ALGORITHM, key.bytes, Buffer.from(value.iv, 'base64'));
  decipher.setAuthTag(Buffer.from(value.tag, 'base64'));
  const plain = Buffer.concat([decipher.update(Buffer.from(value.data, 'base64')), decipher.final()]).toString('utf8');
  return JSON.parse(plain) as ChannelCredentialsColumn;
}

/** Whether a sealed value should be sealed again under the current key (rotation). */
export function needsResealing(value: StoredCredentials | null | undefined, ring: Keyring = keyring()): boolean {
  if (!value) return false;
  return !isSealed(value) || value.kid !== ring.current.id;
}
