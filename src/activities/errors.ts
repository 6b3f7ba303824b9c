import { ApplicationFailure } from '@temporalio/common';
import { ProviderError } from './providers/types';

/** Stable failure types that cross Temporal (PascalCase; workflows and the CLI branch on them). */
export const FailureType = {
  RecipientInvalid: 'RecipientInvalid',
  WindowClosed: 'WindowClosed',
  ProviderAuth: 'ProviderAuth',
  ProviderRejected: 'ProviderRejected',
  RateLimited: 'RateLimited',
  OptedOut: 'OptedOut',
  NotFound: 'NotFound',
} as const;

/** Translates a provider error at the edge: permanent refusals stop retries, rate limits wait. */
export function toFailure(err: unknown): unknown {
  if (!(err instanceof ProviderError)) return err;
  switch (err.kind) {
    case 'retryable':
      return err; // plain error: Temporal retries with backoff
    case 'rate_limited':
      return ApplicationFailure.create({
        type: FailureType.RateLimited,
        message: err.message,
        nextRetryDelay: err.details.retryAfterMs ?? 1000,
        details: [err.details.code ?? null],
      });
    case 'invalid_recipient':
      return ApplicationFailure.nonRetryable(err.message, FailureType.RecipientInvalid, err.details.code ?? null);
    case 'window_closed':
      return ApplicationFailure.nonRetryable(err.message, FailureType.WindowClosed, err.details.code ?? null);
    case 'auth':
      return ApplicationFailure.nonRetryable(err.message, FailureType.ProviderAuth, err.details.code ?? null);
    case 'permanent':
      return ApplicationFailure.nonRetryable(err.message, FailureType.ProviderRejected, err.details.code ?? null);
  }
}
