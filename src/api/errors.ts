import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ZodError } from 'zod';
import { DomainError, type DomainErrorKind } from '../domain/errors';
import type { Logger } from '../log';

/** One error class for the API; its code maps to a status in one place. */
export const ERROR_STATUS = {
  bad_request: 400,
  validation_failed: 400,
  malformed_json: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
  bad_gateway: 502,
  unavailable: 503,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/** The one map from the services' error kinds to HTTP (see src/domain/errors.ts). */
const DOMAIN_ERROR_CODE: Record<DomainErrorKind, ErrorCode> = {
  NotFound: 'not_found',
  Conflict: 'conflict',
  Invalid: 'validation_failed',
  Unavailable: 'unavailable',
  BadGateway: 'bad_gateway',
};

function fromDomainError(err: DomainError): ApiError {
  if (err.kind === 'Invalid') {
    const path = err.field ?? '(body)';
    return new ApiError('validation_failed', `${path}: ${err.message}`, [{ path, message: err.message }]);
  }
  return new ApiError(DOMAIN_ERROR_CODE[err.kind], err.message);
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown; requestId: string };
}

/** `a.b.0.c` paths with each issue's message, so a client knows which field to fix. */
export function zodIssues(err: ZodError): Array<{ path: string; message: string }> {
  return err.issues.map((issue) => ({ path: issue.path.join('.') || '(body)', message: issue.message }));
}

export function errorBody(err: ApiError, requestId: string): ErrorBody {
  return { error: { code: err.code, message: err.message, details: err.details, requestId } };
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new ApiError('not_found', `no route for ${req.method} ${req.path}`));
};

/**
 * Own errors with their status, the services' errors by kind, zod errors as 400 with paths,
 * body-parser errors as 400/413, the rest 500. Routers throw; this is the only translation.
 */
export function errorHandler(log: Logger): ErrorRequestHandler {
  // Four parameters: that is how Express tells an error handler from a middleware.
  return (err: unknown, req, res, _next) => {
    const requestId = String(res.locals.requestId ?? '');
    // What body-parser and http-errors put on theirs.
    const e = (typeof err === 'object' && err !== null ? err : {}) as { type?: unknown; limit?: unknown; status?: unknown; message?: unknown };
    let apiError: ApiError;
    if (err instanceof ApiError) apiError = err;
    else if (err instanceof DomainError) apiError = fromDomainError(err);
    else if (err instanceof ZodError) {
      const issues = zodIssues(err);
      apiError = new ApiError('validation_failed', issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
    } else if (e.type === 'entity.too.large') {
      apiError = new ApiError('payload_too_large', `body larger than the ${String(e.limit)} byte limit`);
    } else if (e.type === 'entity.parse.failed' || err instanceof SyntaxError) {
      apiError = new ApiError('malformed_json', 'body is not valid JSON');
    } else if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      apiError = new ApiError('bad_request', typeof e.message === 'string' ? e.message : 'bad request');
    } else {
      log.error({ err, requestId, method: req.method, path: req.path }, 'unhandled error');
      apiError = new ApiError('internal', 'internal error');
    }
    if (res.headersSent) return;
    res.status(apiError.status).json(errorBody(apiError, requestId));
  };
}
