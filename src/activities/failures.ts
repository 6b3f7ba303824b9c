/**
 * Where zapflow's in-process errors become Temporal failures, named from the one
 * vocabulary (src/domain/failures.ts): permanent refusals stop retries, waits carry their
 * own retry delay, anything else stays a plain error that Temporal retries with backoff.
 */
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../domain/failures';
import { ProviderError } from '../providers/errors';
import { DeliveryRefused, REFUSAL_OF_KIND } from '../services/delivery';
import { SendDeferred } from '../services/quotas';
import { ScheduleNotSendable } from '../services/scheduledSends';

export function toFailure(err: unknown): unknown {
  if (err instanceof DeliveryRefused) return ApplicationFailure.nonRetryable(err.message, err.reason);
  if (err instanceof ScheduleNotSendable) return ApplicationFailure.nonRetryable(err.message, err.failure);
  if (err instanceof SendDeferred) {
    return ApplicationFailure.create({
      type: FailureType.SendDeferred,
      message: err.message,
      nextRetryDelay: err.details.retryAfterMs,
      details: [err.scope],
    });
  }
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
    default:
      return ApplicationFailure.nonRetryable(err.message, REFUSAL_OF_KIND[err.kind], err.details.code ?? null);
  }
}

/** Runs `work`, throwing what it throws as a Temporal failure (see toFailure). */
export async function asFailures<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw toFailure(err);
  }
}
