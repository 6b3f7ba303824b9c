/**
 * File uploads, streamed to a temporary file as they arrive (never held in memory): a body of
 * a CSV content type, or one field of a `multipart/form-data` form (busboy). Past `maxBytes`
 * the upload stops being written and the request is answered 413 (Connection: close, so the
 * rest of the body is not waited for). The caller owns the file it gets back.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Request, Response } from 'express';
import { ApiError } from './errors';

/** Content types a CSV body may have (spreadsheets and browsers name CSV files these ways). */
const CSV_TYPES = new Set(['text/csv', 'application/csv', 'text/comma-separated-values', 'text/plain', 'application/vnd.ms-excel']);
/** A multipart body's boundaries and part headers, on top of the file itself. */
const MULTIPART_OVERHEAD = 64 * 1024;

class TooLarge extends Error {}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

function tooLarge(res: Response, maxBytes: number): ApiError {
  res.setHeader('Connection', 'close');
  return new ApiError('payload_too_large', `upload larger than the ${maxBytes} byte limit (CONTACT_IMPORT_MAX_BYTES)`);
}

/** Writes `source` to `dest`; rejects with TooLarge past maxBytes (the rest of the source is then discarded). */
function spool(source: Readable, dest: string, maxBytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const out = fs.createWriteStream(dest, { flags: 'wx', mode: 0o600 });
    let bytes = 0;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      source.unpipe(out);
      out.destroy();
      source.resume(); // keep reading, into nothing: the client may finish sending and read the answer
      reject(err);
    };
    source.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) fail(new TooLarge());
    });
    let ended = false;
    source.on('end', () => {
      ended = true;
    });
    source.on('error', fail);
    // A client gone mid-upload: the source closes without ending.
    source.on('close', () => {
      if (!ended) fail(new ApiError('bad_request', 'upload aborted'));
    });
    out.on('error', fail);
    out.on('finish', () => {
      if (settled) return;
      settled = true;
      resolve(bytes);
    });
    source.pipe(out);
  });
}

export interface SpooledUpload {
  path: string;
  fileName?: string;
  bytes: number;
}

/**
 * The request's file, spooled: `field` of a multipart form, or the whole body of a CSV
 * content type. 400 for another content type or a form without the field; 413 past maxBytes.
 */
export async function spoolUpload(req: Request, res: Response, opts: { maxBytes: number; field: string }): Promise<SpooledUpload> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  const multipart = type === 'multipart/form-data';
  if (!multipart && !CSV_TYPES.has(type)) {
    throw new ApiError('bad_request', `send the file as text/csv, or as the multipart/form-data field "${opts.field}" (got ${type || 'no content type'})`);
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > opts.maxBytes + (multipart ? MULTIPART_OVERHEAD : 0)) throw tooLarge(res, opts.maxBytes);
  const dest = path.join(os.tmpdir(), `zapflow-upload-${randomUUID()}`);
  try {
    if (!multipart) {
      const bytes = await spool(req, dest, opts.maxBytes);
      return { path: dest, bytes };
    }
    return await spoolMultipart(req, dest, opts);
  } catch (err) {
    await fs.promises.rm(dest, { force: true });
    if (err instanceof TooLarge) throw tooLarge(res, opts.maxBytes);
    throw err;
  }
}

function spoolMultipart(req: Request, dest: string, opts: { maxBytes: number; field: string }): Promise<SpooledUpload> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    let file: Promise<SpooledUpload> | undefined;
    let form: busboy.Busboy;
    try {
      // busboy's own cut-off one byte later than ours, so ours is the one that answers.
      form = busboy({ headers: req.headers, limits: { files: 1, fileSize: opts.maxBytes + 1, fields: 20, fieldSize: 4096, parts: 30 } });
    } catch (err) {
      reject(new ApiError('bad_request', `not a multipart form: ${(err as Error).message}`));
      return;
    }
    form.on('file', (name, stream, info) => {
      if (name !== opts.field || file) {
        stream.resume();
        return;
      }
      file = spool(stream, dest, opts.maxBytes).then((bytes) => ({ path: dest, fileName: info.filename || undefined, bytes }));
      // A file too large answers at once, not when the whole body has arrived.
      file.catch((err: unknown) => settle(() => reject(asError(err))));
    });
    form.on('error', (err: Error) => {
      req.unpipe(form);
      req.resume();
      settle(() => reject(new ApiError('bad_request', `not a readable multipart form: ${err.message}`)));
    });
    form.on('close', () => {
      if (!file) {
        settle(() => reject(new ApiError('bad_request', `the multipart form has no "${opts.field}" field`)));
        return;
      }
      file.then(
        (spooled) => settle(() => resolve(spooled)),
        (err: unknown) => settle(() => reject(asError(err))),
      );
    });
    req.on('close', () => {
      if (!req.complete) settle(() => reject(new ApiError('bad_request', 'upload aborted')));
    });
    req.pipe(form);
  });
}
