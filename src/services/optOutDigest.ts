/**
 * The daily opt-out digest: a tenant's admin contact (settings.adminContact) hears once a day
 * how many contacts opted out in the last OPT_OUT_DIGEST_WINDOW and the newest few numbers,
 * masked, instead of a message per opt-out. A Temporal Schedule (`zapflow-opt-out-digest`,
 * OPT_OUT_DIGEST_CRON) runs src/workflows/optOutDigest.ts: one activity lists the tenants
 * that have something to hear, then one activity per tenant sends its digest through the one
 * delivery, with an idempotency key per tenant and local day, so a retried activity, a run
 * started twice or a manual trigger the same day never sends a second digest.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { optOutsInWindow, tenantsWithOptOuts } from '../db/queries/contacts';
import { getTenant } from '../db/queries/tenants';
import type { Db } from '../db/client';
import { systemPriority } from '../domain/priorities';
import { OPT_OUT_DIGEST_SCHEDULE_ID, optOutDigestWorkflowId } from '../domain/workflowIds';
import { WorkflowType } from '../workflows/definitions';
import { deliverCounted, type DeliveryDeps } from './delivery';

/** Numbers a digest shows (the newest); the count covers them all. */
export const DIGEST_LATEST_NUMBERS = 5;

/** The workflow's input, set by the schedule (the window from OPT_OUT_DIGEST_WINDOW); `until` for runs started by hand. */
export interface OptOutDigestInput {
  windowMs: number;
  /** The window's end (epoch ms); absent: the run's scheduled time. */
  until?: number;
}

export interface OptOutDigestTenantResult {
  tenantId: string;
  sent: boolean;
  /** Opt-outs in the window. */
  count: number;
  /** Why nothing was sent (no admin contact, no opt-outs) or that it had been sent already. */
  note?: string;
}

export interface OptOutDigestResult {
  since: number;
  until: number;
  sent: number;
  skipped: number;
  failed: Array<{ tenantId: string; error: string }>;
}

/** `+55 11 9••••-0001`: enough for an admin to recognise a number, not to copy it. */
export function maskPhone(phone: string): string {
  if (!/^\d+$/.test(phone)) return 'contato sem número';
  if (phone.startsWith('55') && (phone.length === 12 || phone.length === 13)) {
    const subscriber = phone.slice(4);
    return `+55 ${phone.slice(2, 4)} ${subscriber[0]}${'•'.repeat(subscriber.length - 5)}-${subscriber.slice(-4)}`;
  }
  return `+${phone.slice(0, 2)} ${'•'.repeat(Math.max(phone.length - 6, 1))}${phone.slice(-4)}`;
}

/** The digest's text (Portuguese, as the tenants' own). */
export function digestText(params: { count: number; phones: string[]; windowMs: number }): string {
  const hours = Math.round(params.windowMs / 3_600_000);
  const period = hours === 24 ? 'nas últimas 24 horas' : `nas últimas ${hours} horas`;
  const who = params.count === 1 ? '1 contato pediu' : `${params.count} contatos pediram`;
  const shown = params.phones.map(maskPhone).join(', ');
  const more = params.count > params.phones.length ? ` e mais ${params.count - params.phones.length}` : '';
  return `Resumo de descadastros: ${who} para não receber mais mensagens ${period}. Mais recentes: ${shown}${more}. Lista completa: GET /api/opt-outs.`;
}

/** `YYYY-MM-DD` of the local day holding `ms` in `timeZone`. */
function localDay(ms: number, timeZone: string): string {
  try {
    return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(ms));
  } catch {
    return new Date(ms).toISOString().slice(0, 10);
  }
}

/** Tenants with an admin contact and opt-outs in [since, until). */
export async function digestRecipients(db: Db, params: { since: number; until: number }): Promise<string[]> {
  return tenantsWithOptOuts(db, { since: new Date(params.since), until: new Date(params.until) });
}

/**
 * Sends one tenant's digest for [since, until), unless it has no admin contact or no opt-outs.
 * Delivery failures propagate (the activity decides what is retried).
 */
export async function sendOptOutDigest(deps: DeliveryDeps, params: { tenantId: string; since: number; until: number }): Promise<OptOutDigestTenantResult> {
  const { tenantId } = params;
  const tenant = await getTenant(deps.db, { tenantId });
  const admin = tenant?.settings.adminContact;
  if (!tenant || !admin?.channelId || !admin.phone) return { tenantId, sent: false, count: 0, note: 'no admin contact' };
  const { count, phones } = await optOutsInWindow(deps.db, {
    tenantId,
    since: new Date(params.since),
    until: new Date(params.until),
    latest: DIGEST_LATEST_NUMBERS,
  });
  if (count === 0) return { tenantId, sent: false, count, note: 'no opt-outs' };
  const result = await deliverCounted(deps, {
    tenantId,
    channelId: admin.channelId,
    contactKey: admin.phone,
    message: { type: 'text', text: digestText({ count, phones, windowMs: params.until - params.since }) },
    idempotencyKey: `opt-out-digest:${tenantId}:${localDay(params.until, tenant.timezone)}`,
    // The admin is told even if their own number once opted out of the tenant's automation.
    allowOptedOut: true,
  });
  return { tenantId, sent: !result.alreadySent, count, ...(result.alreadySent ? { note: 'already sent today' } : {}) };
}

/**
 * Creates the daily digest schedule, or brings an existing one up to date (time, window, task
 * queue): every worker calls it at start. Runs never overlap.
 */
export async function ensureOptOutDigestSchedule(
  client: Client,
  params: { taskQueue: string; cron: string; windowMs: number; scheduleId?: string },
): Promise<'created' | 'updated'> {
  const scheduleId = params.scheduleId ?? OPT_OUT_DIGEST_SCHEDULE_ID;
  const spec = { cronExpressions: [params.cron] };
  const input: OptOutDigestInput = { windowMs: params.windowMs };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: WorkflowType.optOutDigest,
    workflowId: optOutDigestWorkflowId(),
    taskQueue: params.taskQueue,
    // The SDK's action type omits priority, but the client sends it (schedule-helpers).
    priority: systemPriority('optOutDigest'),
    args: [input],
  };
  // A run missed while Temporal was down is made up within one period (the window).
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: params.windowMs };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies });
    return 'created';
  } catch (err) {
    // By name too: jest realms break instanceof.
    if (!(err instanceof ScheduleAlreadyRunning) && (err as Error)?.name !== 'ScheduleAlreadyRunning') throw err;
  }
  await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action, policies }));
  return 'updated';
}
