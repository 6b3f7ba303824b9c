/**
 * Hands stored inbound messages to their contact workflows (signalWithStart), after the
 * webhook's 200. Messages of one contact go in order; a message Temporal did not take
 * stays pending in Postgres and a periodic scan retries it, so stopping Temporal for a
 * while loses nothing. Duplicated signals are harmless: the contact workflow ignores ids
 * it has seen, which also makes several dispatchers safe (a row is marked dispatched only
 * after Temporal took its signal, so a later reader never signals a contact out of order).
 *
 * New ids arrive by `enqueue` (same process) or by NOTIFY from the API process (`listen`).
 * Row loads, the tenants' settings and the dispatched marks are batched: one query per
 * batch, not per message (settings: once per tenant of the batch).
 *
 * Fast path: where the tenant has no conversation feature (AI replies, follow-ups, analysis),
 * a contact's tap that matches a funnel starts its run here (and sends its first message at
 * once) and a reply goes straight to the run the database says waits for it, with no contact
 * workflow at all (routeWithoutContactWorkflow). Everything else goes to the contact workflow.
 *
 * Dead letters: a message Temporal refuses (anything but Temporal being down or overloaded,
 * see isTemporalUnavailable) has the refusal counted and kept on its row; at `maxAttempts`
 * it is dead, leaves the scan, and its webhook event says `dead` until `zapflow events retry`
 * requeues it. An outage counts nothing: those messages wait for Temporal as before.
 */
import type { Client } from '@temporalio/client';
import type { Db } from '../db/client';
import {
  countDispatchBacklog,
  loadMessagesToDispatch,
  markDispatchedBatch,
  recordDispatchFailures,
  scanMessagesToDispatch,
  type PendingMessage,
} from '../db/queries/messages';
import { contactFastPathState, markContactWorkflowOpen } from '../db/queries/contacts';
import { runsWaitingForReply } from '../db/queries/funnelRuns';
import { tenantSettingsByIds } from '../db/queries/tenants';
import type { InboundType } from '../domain/events';
import { selectFunnel } from '../domain/funnelMatch';
import type { FunnelTriggerSpec } from '../domain/funnelTypes';
import { tenantPriority } from '../domain/priorities';
import type { TenantSettings } from '../domain/records';
import { ContactPhoneKey, TenantIdKey } from '../domain/searchAttributes';
import { DEFAULT_OPT_OUT_KEYWORDS, isOptOut } from '../domain/text';
import { contactWorkflowId } from '../domain/workflowIds';
import type { Logger } from '../log';
import { conversationFlags } from '../services/conversationSettings';
import type { ServiceDeps } from '../services/deps';
import { startFunnelRun } from '../services/funnelRuns';
import type { FunnelTriggerCache } from '../services/funnels';
import { isTemporalUnavailable, signalIfRunning } from '../temporal/signals';
import type { contactWorkflow } from '../workflows/contact';
import { funnelReplySignal, inboundMessageSignal, WorkflowType } from '../workflows/definitions';
import type { ContactMessage, ContactPolicy, FunnelRunLimits, InboundSignalPayload, SendRetryPolicy } from '../workflows/types';
import { TickBatcher } from './tickBatcher';

export interface DispatcherOptions {
  db: Db;
  client: Client;
  taskQueue: string;
  log: Logger;
  concurrency: number;
  retryIntervalMs: number;
  idleTimeoutMs: number;
  humanPauseMs: number;
  sendRetry: SendRetryPolicy;
  /** Refused dispatches after which a message is dead (DISPATCH_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** The tenant's active funnel triggers, attached to each message for the contact workflow. */
  funnelTriggers?: FunnelTriggerCache;
  /**
   * Bounds of new funnel runs: with them (and funnelTriggers), a tap that matches a funnel
   * trigger starts its run here, with no contact workflow, where the tenant needs none.
   */
  funnelLimits?: FunnelRunLimits;
  /** The delivery's clients: with them, such a run's first send leaves from here at once. */
  delivery?: Pick<ServiceDeps, 'providers' | 'config'>;
}

/** A pending message with its tenant's settings (read once per tenant of the batch). */
type PendingRow = PendingMessage & { settings: TenantSettings };

/** The stored text of a refusal: the client's message and its cause's (the gRPC status), bounded. */
function refusalText(err: unknown): string {
  const e = err as { message?: unknown; cause?: { message?: unknown } } | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const cause = typeof e?.cause?.message === 'string' && e.cause.message !== message ? `: ${e.cause.message}` : '';
  return `${message}${cause}`.slice(0, 1000);
}

/** Taps on buttons and lists: the only messages a click's fast path starts runs for. */
const BUTTON_TYPES = new Set(['button_reply', 'template_button_reply', 'list_reply', 'interactive_reply']);

export class Dispatcher {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly inFlight = new Set<string>();
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  private timer?: NodeJS.Timeout;
  private scanning?: Promise<void>;
  private stopped = false;
  /** Ids announced but not loaded yet: loaded with one query per batch. */
  private readonly loads = new TickBatcher<string>(
    async (ids) => {
      if (this.stopped) return;
      const rows = await loadMessagesToDispatch(this.opts.db, { ids });
      this.schedule(await this.withSettings(rows));
    },
    (err) => this.opts.log.warn({ err: (err as Error).message }, 'dispatch deferred to the scan'),
    1000,
  );
  /** Ids Temporal took: marked in batches; a crash before the write only causes a harmless re-signal. */
  private readonly marks = new TickBatcher<string>(
    (ids) => markDispatchedBatch(this.opts.db, { messageIds: ids }),
    // Left pending: the scan signals them again and the workflows ignore the repeats.
    (err, ids) => this.opts.log.warn({ err: (err as Error).message, count: ids.length }, 'marking dispatched messages failed'),
    1000,
  );
  /** Refused dispatches, counted in batches (a lost count only delays a death by one attempt). */
  private readonly failures = new TickBatcher<{ messageId: string; error: string }>(
    async (failures) => {
      const dead = await recordDispatchFailures(this.opts.db, { failures, maxAttempts: this.opts.maxAttempts });
      for (const d of dead) {
        this.opts.log.error(
          { messageId: d.messageId, webhookEventId: d.eventId, attempts: d.attempts, err: d.error },
          'message dead after repeated dispatch refusals (zapflow events retry requeues it)',
        );
      }
    },
    (err, items) => this.opts.log.warn({ err: (err as Error).message, count: items.length }, 'counting dispatch refusals failed'),
    1000,
  );

  constructor(private readonly opts: DispatcherOptions) {}

  /** Starts the periodic scan for messages Temporal has not taken yet. */
  start(): void {
    this.timer = setInterval(() => {
      this.scanning ??= this.scan()
        .then(() => undefined)
        .catch((err) => this.opts.log.warn({ err }, 'dispatch scan failed'))
        .finally(() => (this.scanning = undefined));
    }, this.opts.retryIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.scanning;
    await this.loads.flush();
    await Promise.allSettled([...this.chains.values()]);
    await this.marks.flush();
    await this.failures.flush();
  }

  /**
   * Messages stored moments ago: dispatch soon without waiting for the scan. Ids announced
   * in the same tick are loaded with one query.
   */
  enqueue(messageIds: string[]): void {
    if (this.stopped) return;
    // An id announced twice is loaded twice at worst: schedule() skips rows in flight.
    this.loads.add(messageIds.filter((id) => !this.inFlight.has(id)));
  }

  /** Number of messages waiting to be dispatched (for /metrics and tests). */
  async backlog(): Promise<number> {
    return countDispatchBacklog(this.opts.db);
  }

  /** One pass over pending messages, oldest first. */
  async scan(limit = 500): Promise<number> {
    const rows = await scanMessagesToDispatch(this.opts.db, { limit });
    const fresh = await this.withSettings(rows.filter((r) => !this.inFlight.has(r.id)));
    this.schedule(fresh);
    // The chains these rows joined (a contact's chain outlives none of its rows).
    await Promise.allSettled(fresh.map((r) => this.chains.get(contactWorkflowId(r.tenantId, r.contactKey)) ?? Promise.resolve()));
    await this.marks.flush();
    await this.failures.flush();
    return fresh.length;
  }

  /** Attaches each row's tenant settings, read with one query for the batch's distinct tenants. */
  private async withSettings(rows: PendingMessage[]): Promise<PendingRow[]> {
    if (rows.length === 0) return [];
    const settings = await tenantSettingsByIds(this.opts.db, { tenantIds: [...new Set(rows.map((r) => r.tenantId))] });
    return rows.map((r) => ({ ...r, settings: settings.get(r.tenantId) ?? {} }));
  }

  private schedule(rows: PendingRow[]): void {
    for (const row of rows) {
      if (this.inFlight.has(row.id)) continue;
      this.inFlight.add(row.id);
      const key = contactWorkflowId(row.tenantId, row.contactKey);
      const previous = this.chains.get(key) ?? Promise.resolve();
      const next = previous.then(() => this.dispatchOne(row)).finally(() => this.inFlight.delete(row.id));
      this.chains.set(key, next);
      void next.finally(() => {
        if (this.chains.get(key) === next) this.chains.delete(key);
      });
    }
  }

  private policy(settings: TenantSettings): ContactPolicy {
    return {
      optOutKeywords: settings.optOutKeywords?.length ? settings.optOutKeywords : DEFAULT_OPT_OUT_KEYWORDS,
      humanPauseMs: this.opts.humanPauseMs,
      idleTimeoutMs: this.opts.idleTimeoutMs,
      sendRetry: this.opts.sendRetry,
    };
  }

  private async acquire(): Promise<void> {
    if (this.active < this.opts.concurrency) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.active--;
  }

  /** Messages handled without a contact workflow since start (for tests and the bench). */
  readonly fastPath: DispatcherFastPath = { replies: 0, clicks: 0 };

  /**
   * A contact's message that needs no contact workflow, handled here; false: it goes to the
   * contact workflow as before. It needs none when the tenant has no conversation feature (AI
   * replies, follow-ups, analysis: their debounce and state live there) and the database says
   * the contact is neither opted out nor paused (a handover, a person typing, the loop guard)
   * and the message is no opt-out keyword (rare: the contact workflow confirms and cancels).
   * Then the database routes it: to a run of the contact's waiting for a reply (as the contact
   * workflow would: a waiting run gets the message instead of it starting anything), else, for
   * a tap that matches a funnel trigger, a new run (startFunnelRun: the same re-entry, cooldown
   * and attribution rules, keyed by the message, so a retry of this dispatch finds it). Typed
   * keywords still go through the contact workflow: its loop guard watches them.
   */
  private async routeWithoutContactWorkflow(row: PendingRow, message: ContactMessage, funnels: FunnelTriggerSpec[] | undefined): Promise<boolean> {
    if (row.author !== 'contact' || conversationFlags(row.settings)) return false;
    if (row.optedOutAt !== null || (row.pausedUntil && row.pausedUntil.getTime() > message.timestamp)) return false;
    if (isOptOut(message.text, this.policy(row.settings).optOutKeywords)) return false;
    const { db, client } = this.opts;
    // Read now: the row was loaded before the contact's earlier messages were handled (an
    // opt-out, a handover, a message that opened the contact workflow).
    const contact = await contactFastPathState(db, { tenantId: row.tenantId, contactKey: row.contactKey });
    const now = Date.now();
    if (contact?.optedOutAt || (contact?.pausedUntil && contact.pausedUntil.getTime() > now)) return false;
    if (contact?.contactWorkflowUntil && contact.contactWorkflowUntil.getTime() > now) return false;
    for (const run of await runsWaitingForReply(db, { tenantId: row.tenantId, contactKey: row.contactKey })) {
      // A run that finished meanwhile is not found: the next one, or the triggers.
      if (await signalIfRunning(client, run.id, funnelReplySignal, replyOf(message))) {
        this.fastPath.replies++;
        return true;
      }
    }
    if (!funnels?.length || !this.opts.funnelLimits || !BUTTON_TYPES.has(message.type)) return false;
    // A tap is never loop-guarded (the contact workflow guards typed triggers only).
    const funnel = selectFunnel(funnels, message);
    if (!funnel) return false;
    const delivery = this.opts.delivery;
    await startFunnelRun(
      { db, temporal: { client, taskQueue: this.opts.taskQueue }, log: this.opts.log, ...(delivery ?? {}) },
      {
        tenantId: row.tenantId,
        contactKey: row.contactKey,
        channelId: row.channelId,
        triggerMessageId: row.id,
        funnel,
        sendRetry: this.opts.sendRetry,
        limits: this.opts.funnelLimits,
        eager: delivery !== undefined,
        notifyContact: false,
      },
    );
    this.fastPath.clicks++;
    return true;
  }

  private async dispatchOne(row: PendingRow): Promise<void> {
    if (this.stopped) return;
    const message: ContactMessage = {
      messageId: row.id,
      providerMessageId: row.providerMessageId,
      channelId: row.channelId,
      direction: row.direction,
      author: row.author as ContactMessage['author'],
      type: row.type as InboundType,
      text: row.body ?? undefined,
      button: row.payload.button as ContactMessage['button'],
      timestamp: (row.providerTimestamp ?? row.createdAt).getTime(),
      name: row.contactName ?? undefined,
      ...mediaOf(row.payload),
    };
    await this.acquire();
    /** Whether the failure, if any, is Temporal's answer to this message (not our own lookup's). */
    let signalling = false;
    try {
      // Only a contact's own messages can trigger funnels; others need no trigger list.
      const funnels = row.author === 'contact' && this.opts.funnelTriggers ? await this.opts.funnelTriggers.forTenant(row.tenantId) : undefined;
      if (await this.routeWithoutContactWorkflow(row, message, funnels)) {
        this.marks.add([row.id]);
        return;
      }
      const payload: InboundSignalPayload = {
        message,
        policy: this.policy(row.settings),
        contactOptedOut: row.optedOutAt !== null,
        ...(row.pausedUntil ? { contactPausedUntil: row.pausedUntil.getTime() } : {}),
        ...(funnels?.length ? { funnels } : {}),
        ...(row.lastOutboundAt ? { contactLastOutboundAt: row.lastOutboundAt.getTime() } : {}),
        ...conversationOf(row.settings),
      };
      signalling = true;
      await this.opts.client.workflow.signalWithStart<typeof contactWorkflow, [InboundSignalPayload]>(WorkflowType.contact, {
        workflowId: contactWorkflowId(row.tenantId, row.contactKey),
        taskQueue: this.opts.taskQueue,
        args: [{ tenantId: row.tenantId, contactKey: row.contactKey }],
        signal: inboundMessageSignal,
        signalArgs: [payload],
        priority: tenantPriority('contact', row.tenantId),
        typedSearchAttributes: [
          { key: TenantIdKey, value: row.tenantId },
          { key: ContactPhoneKey, value: row.contactKey },
        ],
        staticSummary: `Contact ${row.contactKey}`,
      });
      // Awaited before the contact's next message is looked at (messages of one contact are
      // chained): while this workflow may be open, the fast path leaves the contact to it.
      // (A message typed on the business phone too: the pause it causes is written by that workflow.)
      signalling = false; // Temporal took it: a failure below is ours, not a refusal
      if (!conversationFlags(row.settings)) {
        await markContactWorkflowOpen(this.opts.db, {
          tenantId: row.tenantId,
          contactKey: row.contactKey,
          until: new Date(Date.now() + this.policy(row.settings).idleTimeoutMs),
        });
      }
      this.marks.add([row.id]);
    } catch (err) {
      // Stays pending: the scan retries it. Temporal refusing this message (not an outage,
      // not a failed lookup of ours) counts towards its death.
      const counted = signalling && !isTemporalUnavailable(err);
      if (counted) this.failures.add([{ messageId: row.id, error: refusalText(err) }]);
      this.opts.log.warn({ err: (err as Error).message, messageId: row.id, counted }, 'dispatch to Temporal failed; will retry');
    } finally {
      this.release();
    }
  }
}

export interface DispatcherFastPath {
  /** The contact's messages that reached a waiting run directly (the database routed them). */
  replies: number;
  /** Clicks whose run started here, with no contact workflow. */
  clicks: number;
}

/** Media kind (and caption) for the contact workflow: voice notes and images can become AI turns. */
function mediaOf(payload: Record<string, unknown>): Pick<ContactMessage, 'media'> {
  const media = payload.media as { kind?: unknown; caption?: unknown } | undefined;
  if (!media || typeof media.kind !== 'string') return {};
  return { media: { kind: media.kind, ...(typeof media.caption === 'string' ? { caption: media.caption } : {}) } };
}

/** The tenant's conversation switches (AI replies, follow-ups, analysis), when any is on. */
/** What a waiting run is told of the contact's reply (as the contact workflow tells it). */
function replyOf(message: ContactMessage) {
  return { messageId: message.messageId, type: message.type, text: message.text, button: message.button };
}

function conversationOf(settings: TenantSettings): Pick<InboundSignalPayload, 'conversation'> {
  const flags = conversationFlags(settings);
  return flags ? { conversation: flags } : {};
}
