import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { safeEqual, verifyMetaSignature } from '../../src/ingest/verify';

const SECRET = 'zapflow-test-app-secret';
/** The exact bytes Meta would sign: compact JSON, non-ASCII escaped (`\u00e7`), `\/`. */
const RAW = readFileSync(join(__dirname, '../fixtures/payloads/meta/signed-unicode-escaped.json'));
/** Computed independently: `openssl dgst -sha256 -hmac zapflow-test-app-secret <file>`. */
const SIGNATURE = 'sha256=35b909fdd4d839b3cd371e29cbc07ae544f5103298b644db4cb5036f0a8c0132';

describe('verifyMetaSignature', () => {
  it('accepts the signature over the raw escaped-unicode bytes', () => {
    expect(RAW.toString('latin1')).toContain('pre\\u00e7o');
    expect(verifyMetaSignature(RAW, SIGNATURE, [SECRET])).toBe(true);
  });

  it('fails over a re-serialised body (what verifying parsed JSON would do)', () => {
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(RAW.toString('utf8'))), 'utf8');
    expect(reserialised.equals(RAW)).toBe(false);
    expect(verifyMetaSignature(reserialised, SIGNATURE, [SECRET])).toBe(false);
  });

  it('accepts an upper-case hex digest and surrounding whitespace', () => {
    expect(verifyMetaSignature(RAW, `  sha256=${SIGNATURE.slice(7).toUpperCase()} `, [SECRET])).toBe(true);
  });

  it('any of several secrets (rotation); empty secrets are ignored', () => {
    expect(verifyMetaSignature(RAW, SIGNATURE, ['old-secret', '', SECRET])).toBe(true);
    expect(verifyMetaSignature(RAW, SIGNATURE, ['old-secret', ''])).toBe(false);
    expect(verifyMetaSignature(RAW, SIGNATURE, [])).toBe(false);
    const emptyKeySig = `sha256=${createHmac('sha256', '').update(RAW).digest('hex')}`;
    expect(verifyMetaSignature(RAW, emptyKeySig, [''])).toBe(false);
  });

  it('rejects a tampered body or a wrong secret', () => {
    const tampered = Buffer.from(RAW.toString('utf8').replace('pre\\u00e7o', 'pre\\u00e7os'), 'utf8');
    expect(verifyMetaSignature(tampered, SIGNATURE, [SECRET])).toBe(false);
    expect(verifyMetaSignature(RAW, SIGNATURE, ['outro-segredo'])).toBe(false);
  });

  it('false on any malformed header', () => {
    const hex = SIGNATURE.slice('sha256='.length);
    for (const header of [
      undefined,
      '',
      hex, // no prefix
      `sha1=${hex}`,
      `sha256:${hex}`,
      `sha256=${hex.slice(0, 63)}`, // odd length
      `sha256=${hex.slice(0, 62)}`, // too short
      `sha256=${hex}00`, // too long
      `sha256=${hex.slice(0, 63)}g`, // not hex
      `sha256=${hex},sha256=${hex}`,
      'sha256=',
    ]) {
      expect(verifyMetaSignature(RAW, header, [SECRET])).toBe(false);
    }
  });

  it('works on an empty body', () => {
    const sig = `sha256=${createHmac('sha256', SECRET).update(Buffer.alloc(0)).digest('hex')}`;
    expect(verifyMetaSignature(Buffer.alloc(0), sig, [SECRET])).toBe(true);
  });
});

describe('safeEqual', () => {
  it('compares strings of any length without throwing', () => {
    expect(safeEqual('s3cr3t', 's3cr3t')).toBe(true);
    expect(safeEqual('s3cr3t', 's3cr3T')).toBe(false);
    expect(safeEqual('s3cr3t', 's3cr3t-longer')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
    expect(safeEqual('', 'x')).toBe(false);
    expect(safeEqual('ação', 'ação')).toBe(true);
    expect(safeEqual('ação', 'acao')).toBe(false);
  });
});
