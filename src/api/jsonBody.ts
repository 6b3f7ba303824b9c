/**
 * JSON request bodies for /api and /admin: parsed within the size limit, then refused (400,
 * naming the field) when a string holds a NUL character. PostgreSQL stores no U+0000 in text
 * or jsonb, so such a body would otherwise fail at the database with a 500.
 */
import express, { type RequestHandler } from 'express';
import { ApiError } from './errors';

/** The path of the first string holding U+0000, or undefined. */
export function nulPath(value: unknown, path: string[] = [], depth = 0): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path.join('.') || '(body)' : undefined;
  if (typeof value !== 'object' || value === null || depth > 64) return undefined;
  for (const [key, child] of Object.entries(value)) {
    if (key.includes('\u0000')) return [...path, key].join('.');
    const found = nulPath(child, [...path, key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

const refuseNul: RequestHandler = (req, _res, next) => {
  const path = nulPath(req.body);
  if (path === undefined) return next();
  const message = 'contains a NUL character (\\u0000), which cannot be stored';
  next(new ApiError('validation_failed', `${path}: ${message}`, [{ path, message }]));
};

export function jsonBody(limit: string): RequestHandler[] {
  return [express.json({ limit }), refuseNul];
}
