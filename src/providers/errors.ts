/**
 * The one error type of provider clients. It stays in-process: activities translate it into
 * Temporal failures (src/activities/failures.ts) with the names of src/domain/failures.ts.
 */
export type ProviderErrorKind =
  | 'retryable' // timeouts, 5xx, network: try again with backoff
  | 'rate_limited' // 429 / throughput codes: try again after retryAfterMs
  | 'invalid_recipient' // not on WhatsApp / undeliverable
  | 'window_closed' // Meta 24-hour window (131047): a template is required
  | 'auth' // bad credentials: retrying cannot help
  | 'permanent'; // any other 4xx that cannot succeed as sent

export class ProviderError extends Error {
  override name = 'ProviderError';
  constructor(
    message: string,
    readonly kind: ProviderErrorKind,
    readonly details: { status?: number; code?: string; retryAfterMs?: number; body?: unknown } = {},
  ) {
    super(message);
  }
  get retryable(): boolean {
    return this.kind === 'retryable' || this.kind === 'rate_limited';
  }
}

