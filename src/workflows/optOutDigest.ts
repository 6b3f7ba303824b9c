/**
 * The daily opt-out digest, started by the Temporal Schedule `zapflow-opt-out-digest`
 * (services/optOutDigest.ts ensureOptOutDigestSchedule, at every worker start). It covers the
 * window of `windowMs` up to the run's scheduled time (so a run made up late covers the same
 * day), lists the tenants with an admin contact and opt-outs in it, and sends each one digest
 * (one activity per tenant, a few at a time). A tenant whose digest keeps failing does not
 * stop the others; the run then fails naming it (OptOutDigestIncomplete).
 */
import { ActivityFailure, ApplicationFailure, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { createActivities } from '../activities';
import { FailureType } from '../domain/failures';
import type { OptOutDigestInput, OptOutDigestResult } from '../services/optOutDigest';

type Activities = ReturnType<typeof createActivities>;

const { optOutDigestTenants } = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 5 },
});
/** A digest waiting for a quota window or a provider retries for a while; past that, the next day's digest covers its own day. */
const { sendOptOutDigest } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '10m', maximumAttempts: 8 },
});

/** Digests sent at once. */
const CONCURRENCY = 10;

/** Set by Temporal on a run a schedule started: the time it was due. */
const SCHEDULED_START = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

function scheduledTime(): number | undefined {
  try {
    return workflowInfo().typedSearchAttributes.get(SCHEDULED_START)?.getTime();
  } catch {
    return undefined;
  }
}

function failureText(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return (err as Error)?.message ?? String(err);
}

export async function optOutDigestWorkflow(input: OptOutDigestInput): Promise<OptOutDigestResult> {
  const until = input.until ?? scheduledTime() ?? Date.now();
  const since = until - input.windowMs;
  const result: OptOutDigestResult = { since, until, sent: 0, skipped: 0, failed: [] };
  const tenants = await optOutDigestTenants({ since, until });
  for (let i = 0; i < tenants.length; i += CONCURRENCY) {
    await Promise.all(
      tenants.slice(i, i + CONCURRENCY).map(async (tenantId) => {
        try {
          const outcome = await sendOptOutDigest({ tenantId, since, until });
          if (outcome.sent) result.sent += 1;
          else result.skipped += 1;
        } catch (err) {
          log.warn('opt-out digest not sent', { tenantId, error: failureText(err) });
          result.failed.push({ tenantId, error: failureText(err) });
        }
      }),
    );
  }
  if (result.failed.length > 0) {
    throw ApplicationFailure.create({
      type: FailureType.OptOutDigestIncomplete,
      message: `opt-out digest not sent to ${result.failed.length} tenant(s): ${result.failed.map((f) => `${f.tenantId} (${f.error})`).join('; ')}`,
      nonRetryable: true,
      details: [result],
    });
  }
  return result;
}
