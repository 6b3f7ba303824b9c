/**
 * Campaigns and their recipients (services/campaigns.ts and services/campaignSender.ts hold
 * the rules). The statements every send runs (claim, record) are prepared texts, one round
 * trip each (the claim two: it first takes the tenant's campaign lock).
 *
 * Times that campaigns count by (a recipient's sent_at, the waits) come in as parameters
 * (`now`), never from PostgreSQL's clock: the sender's campaign clock (see
 * domain/campaign.ts campaignClockSkew) decides them, so windows and sliding quotas agree.
 */
import { and, asc, desc, eq, gt, lt, or, sql } from 'drizzle-orm';
import type { Db } from '../client';
import { queryPrepared } from '../prepared';
import type { CampaignState } from '../../domain/campaign';
import type { CampaignRecipientStatus } from '../../domain/records';
import { campaignRecipients, campaigns, funnelRuns } from '../schema';

export type CampaignRow = typeof campaigns.$inferSelect;
export type CampaignRecipientRow = typeof campaignRecipients.$inferSelect;

const MS = `* interval '1 millisecond'`;

// ─── creation ───

export async function insertCampaign(
  db: Db,
  params: { id: string; tenantId: string; name: string; definition: Record<string, unknown>; startAt: Date | null },
): Promise<CampaignRow> {
  const [row] = await db
    .insert(campaigns)
    .values({ id: params.id, tenantId: params.tenantId, name: params.name, definition: params.definition, startAt: params.startAt, status: 'scheduled' })
    .returning();
  return row;
}

/** How many recipients a resolution inserted, by status and reason. */
export interface RecipientTally {
  status: CampaignRecipientStatus;
  reason: string | null;
  n: number;
}

/**
 * The recipients of a `{tags}` (contacts with any of them) or `{importId}` (the contacts that
 * import brought) audience, in one INSERT … SELECT: opted-out contacts and keys that are not
 * phone numbers (`lid:`, `uid:`) are inserted as skipped with their reason, the rest queued.
 */
export async function insertRecipientsFromContacts(
  db: Db,
  params: { campaignId: string; tenantId: string; tags?: string[]; importId?: string },
): Promise<RecipientTally[]> {
  return params.importId
    ? queryPrepared<RecipientTally>(db, recipientsFrom(IMPORT_MEMBERS), [params.campaignId, params.tenantId, params.importId])
    : queryPrepared<RecipientTally>(db, recipientsFrom(TAGGED), [params.campaignId, params.tenantId, JSON.stringify(params.tags ?? [])]);
}

const IMPORT_MEMBERS = `contact_import_members m join contacts c on c.id = m.contact_id where m.import_id = $3::uuid and c.tenant_id = $2::uuid`;
const TAGGED = `contacts c where c.tenant_id = $2::uuid and c.tags && array(select jsonb_array_elements_text($3::text::jsonb))`;

const recipientsFrom = (source: string) => `
with ins as (
  insert into campaign_recipients (campaign_id, tenant_id, contact_id, phone, status, reason)
  select $1::uuid, c.tenant_id, c.id, c.phone,
         case when c.opted_out_at is not null or c.phone !~ '^[0-9]+$' then 'skipped' else 'queued' end,
         case when c.opted_out_at is not null then 'opted_out' when c.phone !~ '^[0-9]+$' then 'invalid_number' end
    from ${source}
   order by c.created_at, c.id
  on conflict (campaign_id, phone) do nothing
  returning status, reason
)
select status, reason, count(*)::int as n from ins group by status, reason`;

/**
 * The recipients of a `{phones}` audience: `phones` canonical and distinct (in the order
 * given), `invalid` the entries that are no phone number (kept as given, skipped). A phone
 * without a contact gets one (no name, no tags), so opt-outs, the per-recipient cap and
 * replies find it like any contact's; an opted-out contact is skipped. (The contacts it
 * creates are written here, in the same statement as the recipients.)
 */
export async function insertRecipientsFromPhones(
  db: Db,
  params: { campaignId: string; tenantId: string; phones: string[]; invalid: string[] },
): Promise<RecipientTally[]> {
  return queryPrepared<RecipientTally>(db, RECIPIENTS_FROM_PHONES, [
    params.campaignId,
    params.tenantId,
    JSON.stringify(params.phones),
    JSON.stringify(params.invalid),
  ]);
}

const RECIPIENTS_FROM_PHONES = `
with p as (
  select phone, n from jsonb_array_elements_text($3::text::jsonb) with ordinality as u(phone, n)
), created as (
  insert into contacts (tenant_id, phone)
  select $2::uuid, p.phone from p order by p.n
  on conflict (tenant_id, phone) do nothing
  returning id, phone, opted_out_at
), known as (
  select c.id, c.phone, c.opted_out_at from contacts c where c.tenant_id = $2::uuid and c.phone in (select phone from p)
  union all
  select id, phone, opted_out_at from created
), ins as (
  insert into campaign_recipients (campaign_id, tenant_id, contact_id, phone, status, reason)
  select $1::uuid, $2::uuid, k.id, p.phone,
         case when k.opted_out_at is not null then 'skipped' else 'queued' end,
         case when k.opted_out_at is not null then 'opted_out' end
    from p join known k on k.phone = p.phone
   order by p.n
  on conflict (campaign_id, phone) do nothing
  returning status, reason
), bad as (
  insert into campaign_recipients (campaign_id, tenant_id, phone, status, reason)
  select $1::uuid, $2::uuid, b.phone, 'skipped', 'invalid_number'
    from jsonb_array_elements_text($4::text::jsonb) with ordinality as b(phone, n)
   order by b.n
  on conflict (campaign_id, phone) do nothing
  returning status, reason
)
select status, reason, count(*)::int as n from (select * from ins union all select * from bad) x group by status, reason`;

/** Logs the recipients skipped at creation (campaign_skipped), in the creating transaction. */
export async function logCreationSkips(db: Db, params: { campaignId: string; at: Date }): Promise<void> {
  await queryPrepared(
    db,
    `insert into conversation_events (tenant_id, occurred_at, kind, campaign_id, contact_id)
     select r.tenant_id, $2::timestamptz, 'campaign_skipped', r.campaign_id, r.contact_id
       from campaign_recipients r where r.campaign_id = $1::uuid and r.status = 'skipped'`,
    [params.campaignId, params.at.toISOString()],
  );
}

/** Whether this import is the tenant's. */
export async function tenantHasImport(db: Db, params: { tenantId: string; importId: string }): Promise<boolean> {
  const [row] = await queryPrepared<{ ok: boolean }>(
    db,
    `select exists (select 1 from contact_imports where id = $1::uuid and tenant_id = $2::uuid) as ok`,
    [params.importId, params.tenantId],
  );
  return Boolean(row?.ok);
}

/** A campaign whose workflow could not be started: gone, with its recipients. */
export async function deleteCampaign(db: Db, params: { campaignId: string }): Promise<void> {
  await db.delete(campaigns).where(eq(campaigns.id, params.campaignId));
}

// ─── reads ───

export async function getCampaign(db: Db, params: { tenantId: string; campaignId: string }): Promise<CampaignRow | undefined> {
  const [row] = await db
    .select()
    .from(campaigns)
    .where(and(eq(campaigns.id, params.campaignId), eq(campaigns.tenantId, params.tenantId)))
    .limit(1);
  return row;
}

/** A tenant's campaigns, newest first, after the cursor (createdAt, id) of the previous page. */
export async function listCampaigns(
  db: Db,
  params: { tenantId: string; before?: { createdAt: Date; id: string }; status?: CampaignState; limit: number },
): Promise<CampaignRow[]> {
  const before = params.before;
  return db
    .select()
    .from(campaigns)
    .where(
      and(
        eq(campaigns.tenantId, params.tenantId),
        params.status ? eq(campaigns.status, params.status) : undefined,
        before ? or(lt(campaigns.createdAt, before.createdAt), and(eq(campaigns.createdAt, before.createdAt), lt(campaigns.id, before.id))) : undefined,
      ),
    )
    .orderBy(desc(campaigns.createdAt), desc(campaigns.id))
    .limit(params.limit);
}

export interface CampaignCounts {
  queued: number;
  sending: number;
  sent: number;
  delivered: number;
  read: number;
  replied: number;
  clicked: number;
  failed: number;
  /** By reason (campaign_recipients.reason). */
  skipped: Record<string, number>;
  /** By failure type. */
  failedReasons: Record<string, number>;
}

/**
 * What became of a campaign's recipients. Delivered and read come from the message of each
 * send; replied is a message from the contact after the send; clicked the contacts whose
 * click started a funnel run attributed to the campaign.
 */
export async function campaignCounts(db: Db, params: { campaignId: string }): Promise<CampaignCounts> {
  const [totals] = await queryPrepared<{
    queued: number;
    sending: number;
    sent: number;
    delivered: number;
    read: number;
    replied: number;
    clicked: number;
    failed: number;
  }>(db, CAMPAIGN_COUNTS, [params.campaignId]);
  const reasons = await queryPrepared<{ status: string; reason: string | null; n: number }>(db, CAMPAIGN_REASONS, [params.campaignId]);
  const skipped: Record<string, number> = {};
  const failedReasons: Record<string, number> = {};
  for (const r of reasons) (r.status === 'skipped' ? skipped : failedReasons)[r.reason ?? 'unknown'] = r.n;
  return { ...totals, skipped, failedReasons };
}

const CAMPAIGN_COUNTS = `
select count(*) filter (where r.status = 'queued')::int as queued,
       count(*) filter (where r.status = 'sending')::int as sending,
       count(*) filter (where r.status = 'sent')::int as sent,
       count(*) filter (where r.status = 'sent' and (m.delivered_at is not null or m.read_at is not null or m.status in ('delivered', 'read', 'played')))::int as delivered,
       count(*) filter (where r.status = 'sent' and (m.read_at is not null or m.status in ('read', 'played')))::int as read,
       count(*) filter (where r.status = 'sent' and r.contact_id is not null and exists (
         select 1 from messages i where i.contact_id = r.contact_id and i.direction = 'inbound' and i.author = 'contact' and i.created_at > m.created_at))::int as replied,
       (select count(distinct contact_key) from funnel_runs where campaign_id = $1::uuid)::int as clicked,
       count(*) filter (where r.status = 'failed')::int as failed
  from campaign_recipients r left join messages m on m.id = r.message_id
 where r.campaign_id = $1::uuid`;

const CAMPAIGN_REASONS = `
select status, reason, count(*)::int as n from campaign_recipients
 where campaign_id = $1::uuid and status in ('skipped', 'failed') group by status, reason`;

/** A campaign's recipients in id order after `afterId`, optionally of one status. */
export async function listCampaignRecipients(
  db: Db,
  params: { campaignId: string; status?: CampaignRecipientStatus; afterId?: number; limit: number },
): Promise<CampaignRecipientRow[]> {
  return db
    .select()
    .from(campaignRecipients)
    .where(
      and(
        eq(campaignRecipients.campaignId, params.campaignId),
        params.status ? eq(campaignRecipients.status, params.status) : undefined,
        params.afterId !== undefined ? gt(campaignRecipients.id, params.afterId) : undefined,
      ),
    )
    .orderBy(asc(campaignRecipients.id))
    .limit(params.limit);
}

/**
 * Attribution: the campaign send a message answers. The inbound message (`messageId`, a
 * zapflow message id) names the provider id of the message it replies to (payload.replyTo:
 * Meta `context.id`, Evolution `contextInfo.stanzaId`); on the same channel that is our
 * outbound row, and that row is a campaign recipient's send. Undefined for anything else.
 */
export async function campaignSendAnswered(
  db: Db,
  params: { tenantId: string; messageId: string },
): Promise<{ campaignId: string; recipientId: number; contactId: string | null; channelId: string } | undefined> {
  const [row] = await queryPrepared<{ campaignId: string; recipientId: number; contactId: string | null; channelId: string }>(db, CAMPAIGN_SEND_ANSWERED, [
    params.messageId,
    params.tenantId,
  ]);
  return row;
}

const CAMPAIGN_SEND_ANSWERED = `
select r.campaign_id as "campaignId", r.id::float8 as "recipientId", r.contact_id as "contactId", m.channel_id as "channelId"
  from messages t
  join messages m on m.channel_id = t.channel_id and m.provider_message_id = t.payload->>'replyTo' and m.direction = 'outbound'
  join campaign_recipients r on r.message_id = m.id
 where t.id = $1::uuid and t.tenant_id = $2::uuid and t.payload ? 'replyTo'
 limit 1`;

/**
 * `GET /api/funnel-runs?campaignId=`: the tenant's runs attributed to a campaign, newest first
 * (funnel_runs_campaign_idx), with the list's other filters.
 */
export async function listFunnelRunsOfCampaign(
  db: Db,
  params: { tenantId: string; campaignId: string; status?: string; funnelId?: string; contactKey?: string; since?: Date; limit?: number },
) {
  return db
    .select()
    .from(funnelRuns)
    .where(
      and(
        eq(funnelRuns.campaignId, params.campaignId),
        eq(funnelRuns.tenantId, params.tenantId),
        params.status ? sql`${funnelRuns.status} = ${params.status}` : undefined,
        params.funnelId ? eq(funnelRuns.funnelId, params.funnelId) : undefined,
        params.contactKey ? eq(funnelRuns.contactKey, params.contactKey) : undefined,
        params.since ? sql`${funnelRuns.startedAt} >= ${params.since.toISOString()}::timestamptz` : undefined,
      ),
    )
    .orderBy(desc(funnelRuns.startedAt))
    .limit(params.limit ?? 100);
}

// ─── the workflow's transitions ───

/**
 * A campaign's status changes only where its current status allows (`from`), in one
 * statement: pause, resume and cancel (the workflow's updates), waiting, completion. The
 * answer says whether it applied and the status the row has now.
 */
export async function transitionCampaign(
  db: Db,
  params: {
    campaignId: string;
    from: CampaignState[];
    to: CampaignState;
    now: number;
    waiting?: { waitingFor: string; until: number };
  },
): Promise<{ applied: boolean; status: CampaignState | undefined }> {
  const [row] = await queryPrepared<{ applied: boolean; status: CampaignState | null }>(db, TRANSITION_CAMPAIGN, [
    params.campaignId,
    `{${params.from.join(',')}}`,
    params.to,
    new Date(params.now).toISOString(),
    params.waiting?.waitingFor ?? null,
    params.waiting ? new Date(params.waiting.until).toISOString() : null,
  ]);
  return { applied: Boolean(row?.applied), status: row?.status ?? undefined };
}

const TRANSITION_CAMPAIGN = `
with up as (
  update campaigns
     set status = $3::text, waiting_for = $5::text, waiting_until = $6::timestamptz, updated_at = now(),
         finished_at = case when $3::text in ('completed', 'cancelled') then $4::timestamptz else finished_at end
   where id = $1::uuid and status = any($2::text[])
  returning status
)
select exists (select 1 from up) as applied,
       coalesce((select status from up), (select status from campaigns where id = $1::uuid)) as status`;

/**
 * A batch begins: the campaign becomes `running` (from scheduled, waiting or running; a
 * paused or finished campaign stays as it is), and the claims a previous batch left
 * `sending` (its worker died, or it is still finishing: the idempotency key of each send
 * tells) go back to the queue, still bound to their channel. With the tenant's timezone.
 */
export async function beginCampaignBatch(
  db: Db,
  params: { campaignId: string; now: number },
): Promise<{ status: CampaignState; running: boolean; released: number; tenantId: string; definition: Record<string, unknown>; timezone: string } | undefined> {
  const [row] = await queryPrepared<{
    status: CampaignState;
    running: boolean;
    released: number;
    tenantId: string;
    definition: Record<string, unknown>;
    timezone: string;
  }>(db, BEGIN_CAMPAIGN_BATCH, [params.campaignId, new Date(params.now).toISOString()]);
  return row;
}

const BEGIN_CAMPAIGN_BATCH = `
with up as (
  update campaigns
     set status = 'running', waiting_for = null, waiting_until = null, started_at = coalesce(started_at, $2::timestamptz), updated_at = now()
   where id = $1::uuid and status in ('scheduled', 'waiting', 'running')
  returning id
), released as (
  update campaign_recipients set status = 'queued', updated_at = now()
   where campaign_id = $1::uuid and status = 'sending' and exists (select 1 from up)
  returning id
)
select case when exists (select 1 from up) then 'running' else c.status end as status,
       exists (select 1 from up) as running,
       (select count(*) from released)::int as released,
       c.tenant_id as "tenantId", c.definition, t.timezone
  from campaigns c join tenants t on t.id = c.tenant_id
 where c.id = $1::uuid`;

export async function campaignStatus(db: Db, params: { campaignId: string }): Promise<CampaignState | undefined> {
  const [row] = await queryPrepared<{ status: CampaignState }>(db, `select status from campaigns where id = $1::uuid`, [params.campaignId]);
  return row?.status;
}

/**
 * The audience is done: `completed`, only while running and with nothing queued or in
 * flight. Otherwise the status it has, and how many recipients are left (queued ones bound
 * to a channel no batch can use).
 */
export async function completeCampaign(db: Db, params: { campaignId: string; now: number }): Promise<{ completed: boolean; status: CampaignState; left: number }> {
  const [row] = await queryPrepared<{ completed: boolean; status: CampaignState; left: number }>(db, COMPLETE_CAMPAIGN, [
    params.campaignId,
    new Date(params.now).toISOString(),
  ]);
  return row;
}

const COMPLETE_CAMPAIGN = `
with left_ as (
  select count(*)::int as n from campaign_recipients where campaign_id = $1::uuid and status in ('queued', 'sending')
), up as (
  update campaigns set status = 'completed', finished_at = $2::timestamptz, waiting_for = null, waiting_until = null, updated_at = now()
   where id = $1::uuid and status = 'running' and (select n from left_) = 0
  returning status
)
select exists (select 1 from up) as completed,
       coalesce((select status from up), (select status from campaigns where id = $1::uuid)) as status,
       (select n from left_) as left`;

/** Claims of the campaign still in flight: `sending` since after `since` (older ones belong to a worker that died). */
export async function countSendsInFlight(db: Db, params: { campaignId: string; since: number }): Promise<number> {
  const [row] = await queryPrepared<{ n: number }>(
    db,
    `select count(*)::int as n from campaign_recipients where campaign_id = $1::uuid and status = 'sending' and sent_at > $2::timestamptz`,
    [params.campaignId, new Date(params.since).toISOString()],
  );
  return row?.n ?? 0;
}

// ─── a send: claim, then its outcome ───

/** The sliding-window limits a claim checks (0: off), window lengths in ms. */
export interface ClaimLimits {
  channelPerMinute: number;
  channelPerHour: number;
  channelPerDay: number;
  tenantPerDay: number;
  recipientPerDay: number;
  minuteMs: number;
  hourMs: number;
  dayMs: number;
}

export type Claim =
  /** The campaign is not running (paused, cancelled, completed): nothing claimed. */
  | { kind: 'stopped'; status: CampaignState | undefined }
  /** A quota of the channel or tenant is full until `reopenAt` (epoch ms): nothing claimed. */
  | { kind: 'full'; reopenAt: number }
  /** No queued recipient this channel may take. */
  | { kind: 'empty' }
  /** The next recipient had its per-day cap already: skipped (and logged), nothing to send. */
  | { kind: 'capped'; recipientId: number }
  | {
      kind: 'claimed';
      recipient: { id: number; phone: string; contactId: string | null; name: string | null; variables: Record<string, string> | null };
    };

/**
 * Claims the campaign's next recipient for one channel, or says why not, in one transaction:
 *
 * 1. the tenant's campaign lock (an advisory lock per tenant), so claims of every campaign of
 *    the tenant count one after another and the next statement sees every claim before it;
 * 2. one statement that reads the campaign row FOR SHARE and requires it `running` (a pause
 *    or cancel updates that row: a claim either committed before it, or sees it and claims
 *    nothing), checks each sliding quota (the limit-th newest campaign send of the channel,
 *    or of the tenant, in the window: when there is one, the quota is full until it leaves
 *    the window), then takes the lowest queued recipient free or bound to this channel
 *    (SKIP LOCKED) and marks it `sending` on this channel at `now`, or, when the contact
 *    already got `recipientPerDay` campaign sends in the last day, `skipped`
 *    (recipient_cap, logged as campaign_skipped).
 *
 * A claimed send counts in the windows from `now` on, and its recorded time moves to when the
 * provider accepted it (recordCampaignSent): every send counts from no earlier than the moment
 * it reached the provider.
 */
export async function claimCampaignRecipient(
  db: Db,
  params: { campaignId: string; tenantId: string; channelId: string; now: number; limits: ClaimLimits },
): Promise<Claim> {
  const l = params.limits;
  const [row] = await db.transaction(async (tx) => {
    await queryPrepared(tx, `select pg_advisory_xact_lock(hashtextextended('zapflow:campaign-sends:' || $1::text, 0))`, [params.tenantId]);
    return queryPrepared<{
      campaignStatus: CampaignState | null;
      reopenAt: number | null;
      recipientId: number | null;
      phone: string | null;
      contactId: string | null;
      status: string | null;
      name: string | null;
      variables: Record<string, string> | null;
    }>(tx, CLAIM_RECIPIENT, [
      params.campaignId,
      params.channelId,
      new Date(params.now).toISOString(),
      params.tenantId,
      l.channelPerMinute,
      l.minuteMs,
      l.channelPerHour,
      l.hourMs,
      l.channelPerDay,
      l.dayMs,
      l.tenantPerDay,
      l.recipientPerDay,
    ]);
  });
  if (!row || row.campaignStatus !== 'running') return { kind: 'stopped', status: row?.campaignStatus ?? undefined };
  if (row.reopenAt !== null) return { kind: 'full', reopenAt: row.reopenAt };
  if (row.recipientId === null) return { kind: 'empty' };
  const recipientId = Number(row.recipientId);
  if (row.status === 'skipped') return { kind: 'capped', recipientId };
  return { kind: 'claimed', recipient: { id: recipientId, phone: row.phone!, contactId: row.contactId, name: row.name, variables: row.variables } };
}

/** The limit-th newest campaign send at or after `$3 - window` among `filter`'s rows, plus the window: when that quota reopens. */
const reopenOf = (filter: string, limit: string, windowMs: string) => `
  case when ${limit} > 0 then (
    select sent_at from campaign_recipients
     where ${filter} and sent_at is not null and sent_at > $3::timestamptz - ${windowMs} ${MS}
     order by sent_at desc offset ${limit} - 1 limit 1
  ) + ${windowMs} ${MS} end`;

const CLAIM_RECIPIENT = `
with camp as (
  select status from campaigns where id = $1::uuid for share
), reopen as (
  select greatest(
    ${reopenOf('channel_id = $2::uuid', '$5::int', '$6::float8')},
    ${reopenOf('channel_id = $2::uuid', '$7::int', '$8::float8')},
    ${reopenOf('channel_id = $2::uuid', '$9::int', '$10::float8')},
    ${reopenOf('tenant_id = $4::uuid', '$11::int', '$10::float8')}
  ) as at
), pick as (
  select r.id,
         ($12::int > 0 and r.contact_id is not null and (
           select count(*) from campaign_recipients x
            where x.contact_id = r.contact_id and x.id <> r.id and x.sent_at is not null and x.sent_at > $3::timestamptz - $10::float8 ${MS}
         ) >= $12::int) as capped
    from campaign_recipients r
   where r.campaign_id = $1::uuid and r.status = 'queued' and (r.channel_id is null or r.channel_id = $2::uuid)
     and exists (select 1 from camp where status = 'running') and (select at from reopen) is null
   order by r.id
   limit 1
   for update of r skip locked
), claimed as (
  update campaign_recipients r
     set status = case when p.capped then 'skipped' else 'sending' end,
         reason = case when p.capped then 'recipient_cap' end,
         channel_id = case when p.capped then r.channel_id else $2::uuid end,
         sent_at = case when p.capped then null else $3::timestamptz end,
         updated_at = now()
    from pick p
   where r.id = p.id
  returning r.id, r.phone, r.contact_id, r.status, r.tenant_id, r.campaign_id
), logged as (
  insert into conversation_events (tenant_id, occurred_at, kind, campaign_id, contact_id)
  select c.tenant_id, $3::timestamptz, 'campaign_skipped', c.campaign_id, c.contact_id from claimed c where c.status = 'skipped'
)
select (select status from camp) as "campaignStatus",
       (select (extract(epoch from at) * 1000)::float8 from reopen) as "reopenAt",
       c.id::float8 as "recipientId", c.phone, c.contact_id as "contactId", c.status, ct.name, ct.variables
  from (select 1) one
  left join claimed c on true
  left join contacts ct on ct.id = c.contact_id`;

/**
 * A claimed send the provider accepted: `sent`, with its message and the time it went out
 * (`now`, after the provider's answer), logged as campaign_sent in the same statement. Only
 * a claim still `sending` is recorded (a retried batch may find it recorded already).
 */
export async function recordCampaignSent(db: Db, params: { recipientId: number; messageId: string; now: number }): Promise<boolean> {
  const rows = await queryPrepared<{ id: number }>(db, RECORD_CAMPAIGN_SENT, [params.recipientId, params.messageId, new Date(params.now).toISOString()]);
  return rows.length > 0;
}

const RECORD_CAMPAIGN_SENT = `
with r as (
  update campaign_recipients set status = 'sent', reason = null, message_id = $2::uuid, sent_at = $3::timestamptz, updated_at = now()
   where id = $1::bigint and status = 'sending'
  returning id, tenant_id, campaign_id, contact_id, channel_id
), logged as (
  insert into conversation_events (tenant_id, occurred_at, kind, channel_id, campaign_id, contact_id, message_id)
  select r.tenant_id, $3::timestamptz, 'campaign_sent', r.channel_id, r.campaign_id, r.contact_id, $2::uuid from r
)
select id::float8 as id from r`;

/**
 * A claimed send that ended without going out: `failed` (the delivery refused it or gave up:
 * its failure type) or `skipped` (opted out, not on WhatsApp: logged as campaign_skipped).
 * It no longer counts in the quotas.
 */
export async function recordCampaignNotSent(
  db: Db,
  params: { recipientId: number; status: 'failed' | 'skipped'; reason: string; messageId?: string; now: number },
): Promise<void> {
  await queryPrepared(db, RECORD_CAMPAIGN_NOT_SENT, [
    params.recipientId,
    params.status,
    params.reason,
    params.messageId ?? null,
    new Date(params.now).toISOString(),
  ]);
}

const RECORD_CAMPAIGN_NOT_SENT = `
with r as (
  update campaign_recipients set status = $2::text, reason = $3::text, message_id = coalesce($4::uuid, message_id), sent_at = null, updated_at = now()
   where id = $1::bigint and status = 'sending'
  returning id, tenant_id, campaign_id, contact_id, channel_id
)
insert into conversation_events (tenant_id, occurred_at, kind, channel_id, campaign_id, contact_id, message_id)
select r.tenant_id, $5::timestamptz, 'campaign_skipped', r.channel_id, r.campaign_id, r.contact_id, $4::uuid from r where $2::text = 'skipped'`;

/**
 * A claimed send that must wait (a quota of the delivery, pacing, a provider's 429 or blip):
 * back to the queue, still bound to its channel (its message row is that channel's). When it
 * surely did not go out its claim stops counting in the quotas; when it may have, it keeps
 * counting until claimed again.
 */
export async function releaseCampaignRecipient(db: Db, params: { recipientId: number; mayHaveGone: boolean }): Promise<void> {
  await queryPrepared(
    db,
    `update campaign_recipients set status = 'queued', sent_at = case when $2::boolean then sent_at end, updated_at = now()
      where id = $1::bigint and status = 'sending'`,
    [params.recipientId, params.mayHaveGone],
  );
}
