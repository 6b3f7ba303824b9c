/** Database errors that callers branch on, whichever driver raised them. */

/** Postgres unique_violation, whichever driver raised it (postgres.js puts it on the error, drizzle on its cause). */
export function isUniqueViolation(err: unknown): boolean {
  for (let e = err as { code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === '23505') return true;
  }
  return false;
}
