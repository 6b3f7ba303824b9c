import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ZodError } from 'zod';
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

/** Own errors with their status, zod errors as 400 with paths, body-parser errors as 400/413, the rest 500. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const requestId = String(res.locals.requestId ?? '');
    let apiError: ApiError;
    if (err instanceof ApiError) apiError = err;
    else if (err instanceof ZodError) {
      const issues = zodIssues(err);
      apiError = new ApiError('validation_failed', issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
    } else if (err?.type === 'entity.too.large') {
      apiError = new ApiError('payload_too_large', `body larger than the ${err.limit} byte limit`);
    } else if (err?.type === 'entity.parse.failed' || err instanceof SyntaxError) {
      apiError = new ApiError('malformed_json', 'body is not valid JSON');
    } else if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) {
      apiError = new ApiError('bad_request', String(err.message ?? 'bad request'));
    } else {
      log.error({ err, requestId, method: req.method, path: req.path }, 'unhandled error');
      apiError = new ApiError('internal', 'internal error');
    }
    if (res.headersSent) return;
    res.status(apiError.status).json(errorBody(apiError, requestId));
  };
}
