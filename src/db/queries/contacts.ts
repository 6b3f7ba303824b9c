import { and, asc, eq, gt, gte, isNotNull, isNull, like, lt, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../client';
import { queryPrepared } from '../prepared';
import { contacts, NAME_ACCENTED, NAME_PLAIN, tenants } from '../schema';
import { appendConversationEvents } from './conversationEvents';

export type ContactRow = typeof contacts.$inferSelect;

/** Inserts the contact or refreshes its name; returns the row. */
export async function upsertContact(
  db: Db,
  params: { tenantId: string; phone: string; name?: string; lastInboundAt?: Date },
): Promise<ContactRow> {
  const [row] = await db
    .insert(contacts)
    .values({ tenantId: params.tenantId, phone: params.phone, name: params.name, lastInboundAt: params.lastInboundAt })
    .onConflictDoUpdate({
      target: [contacts.tenantId, contacts.phone],
      set: {
        name: sql`coalesce(excluded.name, ${contacts.name})`,
        lastInboundAt: sql`greatest(excluded.last_inbound_at, ${contacts.lastInboundAt})`,
        updatedAt: sql`now()`,
      },
    })
    .returning();
  return row;
}

export async function getContact(db: Db, params: { tenantId: string; phone: string }): Promise<ContactRow | undefined> {
  const [row] = await db
    .select()
    .from(contacts)
    .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.phone)))
    .limit(1);
  return row;
}

/**
 * Marks the contact opted out by `messageId`. True when that message is the one that opted
 * it out (now, or on an earlier attempt of the same activity); false when it was already
 * opted out by another message.
 */
export async function optOutContact(db: Db, params: { tenantId: string; phone: string; messageId: string }): Promise<boolean> {
  await db
    .update(contacts)
    .set({ optedOutAt: sql`now()`, optOutMessageId: params.messageId, updatedAt: sql`now()` })
    .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.phone), sql`${contacts.optedOutAt} is null`));
  const row = await getContact(db, params);
  return row?.optOutMessageId === params.messageId;
}

/** Adds tags to a contact (each once) and removes others. */
export async function changeContactTags(db: Db, params: { tenantId: string; phone: string; add: string[]; remove: string[] }): Promise<void> {
  const where = and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.phone));
  if (params.add.length) {
    await db
      .update(contacts)
      .set({
        tags: sql`(select coalesce(array_agg(distinct t), '{}') from unnest(${contacts.tags} || ${sql.param(params.add)}::text[]) t)`,
        updatedAt: sql`now()`,
      })
      .where(where);
  }
  if (params.remove.length) {
    await db
      .update(contacts)
      .set({
        tags: sql`(select coalesce(array_agg(t), '{}') from unnest(${contacts.tags}) t where not (t = any(${sql.param(params.remove)}::text[])))`,
        updatedAt: sql`now()`,
      })
      .where(where);
  }
}

/** A contact with what automation decides on: opt-out, pause, last messages, the tenant's timezone and settings. */
export async function getContactState(db: Db, params: { tenantId: string; contactKey: string }) {
  const [row] = await db
    .select({
      id: contacts.id,
      name: contacts.name,
      optedOutAt: contacts.optedOutAt,
      pausedUntil: contacts.pausedUntil,
      pauseReason: contacts.pauseReason,
      lastInboundAt: contacts.lastInboundAt,
      lastOutboundAt: contacts.lastOutboundAt,
      timezone: tenants.timezone,
      settings: tenants.settings,
    })
    .from(contacts)
    .innerJoin(tenants, eq(tenants.id, contacts.tenantId))
    .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.contactKey)))
    .limit(1);
  return row;
}

/** Pauses automation for a contact until `until`; `extendOnly` never shortens a longer pause (a handover). */
export async function pauseContact(
  db: Db,
  params: { tenantId: string; contactKey: string; until: Date; reason: string; extendOnly?: boolean },
): Promise<{ pausedUntil: Date; pauseReason: string | null } | undefined> {
  const [row] = await db
    .update(contacts)
    .set({ pausedUntil: params.until, pauseReason: params.reason, updatedAt: sql`now()` })
    .where(
      and(
        eq(contacts.tenantId, params.tenantId),
        eq(contacts.phone, params.contactKey),
        params.extendOnly ? or(isNull(contacts.pausedUntil), lt(contacts.pausedUntil, params.until)) : undefined,
      ),
    )
    .returning({ pausedUntil: contacts.pausedUntil, pauseReason: contacts.pauseReason });
  return row ? { pausedUntil: row.pausedUntil!, pauseReason: row.pauseReason } : undefined;
}

export async function resumeContact(db: Db, params: { tenantId: string; contactKey: string }): Promise<boolean> {
  const rows = await db
    .update(contacts)
    .set({ pausedUntil: null, pauseReason: null, updatedAt: sql`now()` })
    .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.contactKey)))
    .returning({ id: contacts.id });
  return rows.length > 0;
}

// ─── lists, profiles and re-subscription (GET/PATCH /api/contacts, /api/opt-outs) ───

/** What GET /api/contacts filters on; every given filter must hold. */
export interface ContactListFilters {
  /** Phone digit prefixes (any of them). */
  phonePrefixes?: string[];
  /** Words of the name, each a prefix of one of its words (all of them), accents and case ignored. */
  nameWords?: string[];
  /** Any of these tags. */
  tags?: string[];
  optedOut?: boolean;
  /** Last activity at or after. */
  activeSince?: Date;
  /** No activity at or after (never active included). */
  inactiveSince?: Date;
}

/**
 * Where a page ended: the last row's activity time (microseconds, UTC, as text: a JS Date
 * would lose them and repeat or skip rows) and id. `at: null`: the page ended among contacts
 * without any activity, which come last.
 */
export interface ContactListPosition {
  at: string | null;
  id: string;
}

const listColumns = {
  id: contacts.id,
  phone: contacts.phone,
  name: contacts.name,
  tags: contacts.tags,
  optedOutAt: contacts.optedOutAt,
  resubscribedAt: contacts.resubscribedAt,
  lastActivityAt: contacts.lastActivityAt,
  lastInboundAt: contacts.lastInboundAt,
  lastOutboundAt: contacts.lastOutboundAt,
  createdAt: contacts.createdAt,
  position: sql<string | null>`to_char(${contacts.lastActivityAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('position'),
};

export type ContactListRow = Awaited<ReturnType<typeof listContacts>>[number];

/** The smallest text above every string that starts with `prefix` (digits), or undefined for 99…9. */
function digitsAfter(prefix: string): string | undefined {
  const trimmed = prefix.replace(/9+$/, '');
  if (!trimmed) return undefined;
  return trimmed.slice(0, -1) + String(Number(trimmed.slice(-1)) + 1);
}

function filterConditions(tenantId: string, f: ContactListFilters): SQL[] {
  const where: SQL[] = [eq(contacts.tenantId, tenantId)];
  if (f.phonePrefixes?.length) {
    // A range the (tenant_id, phone) index can read, whatever the collation; LIKE rechecks it.
    const ranges = f.phonePrefixes.map((p) => {
      const upper = digitsAfter(p);
      return and(gte(contacts.phone, p), upper ? lt(contacts.phone, upper) : undefined, like(contacts.phone, `${p}%`))!;
    });
    where.push(or(...ranges)!);
  }
  if (f.nameWords?.length) {
    // Letters and digits only (the caller's words), so the text is a valid tsquery of prefixes.
    const query = f.nameWords.map((w) => `${w}:*`).join(' & ');
    where.push(sql`${contacts.nameSearch} @@ to_tsquery('simple'::regconfig, translate(lower(${query}), ${NAME_ACCENTED}, ${NAME_PLAIN}))`);
  }
  if (f.tags?.length) where.push(sql`${contacts.tags} && ${sql.param(f.tags)}::text[]`);
  if (f.optedOut !== undefined) where.push(f.optedOut ? isNotNull(contacts.optedOutAt) : isNull(contacts.optedOutAt));
  return where;
}

/**
 * A name search with at most this many matches is answered from its matches (found through
 * contacts_name_search_idx, then sorted); one with more walks the activity index, where
 * matches are then dense enough to fill a page quickly.
 */
export const FEW_NAME_MATCHES = 2_000;

/**
 * One page of a tenant's contacts, most recent activity first (then id), after `after`.
 * Read through contacts_tenant_activity_idx in two ranges, each an index range scan that
 * stops at `limit`: contacts with activity (from the position on), then those without any
 * (in id order). No OFFSET: page 1,000 costs what page 1 does. A name search first tries its
 * matches alone (fewNameMatches): a rare name must not walk every contact of the tenant.
 */
export async function listContacts(
  db: Db,
  params: {
    tenantId: string;
    filters: ContactListFilters;
    after?: ContactListPosition;
    limit: number;
    /** FEW_NAME_MATCHES unless given (tests take both paths with few contacts). */
    fewNameMatches?: number;
  },
) {
  const { filters, after, limit } = params;
  const common = filterConditions(params.tenantId, filters);
  if (filters.nameWords?.length) {
    const few = await fewNameMatches(db, { where: common, filters, after, limit, cap: params.fewNameMatches ?? FEW_NAME_MATCHES });
    if (few) return few;
  }
  const order = [sql`${contacts.lastActivityAt} desc nulls last`, asc(contacts.id)];
  const rows: Array<Awaited<ReturnType<typeof active>>[number]> = [];
  const active = async () => {
    const where = [...common, isNotNull(contacts.lastActivityAt)];
    if (filters.activeSince) where.push(gte(contacts.lastActivityAt, filters.activeSince));
    if (filters.inactiveSince) where.push(lt(contacts.lastActivityAt, filters.inactiveSince));
    if (after?.at) {
      const at = sql`${after.at}::timestamptz`;
      where.push(sql`${contacts.lastActivityAt} <= ${at}`, or(sql`${contacts.lastActivityAt} < ${at}`, gt(contacts.id, after.id))!);
    }
    return db.select(listColumns).from(contacts).where(and(...where)).orderBy(...order).limit(limit);
  };
  if (!after || after.at !== null) rows.push(...(await active()));
  if (rows.length < limit && !filters.activeSince) {
    const where = [...common, isNull(contacts.lastActivityAt)];
    if (after && after.at === null) where.push(gt(contacts.id, after.id));
    rows.push(...(await db.select(listColumns).from(contacts).where(and(...where)).orderBy(...order).limit(limit - rows.length)));
  }
  return rows;
}

/**
 * The page from the name search's matches, when there are at most `cap` of them
 * (undefined otherwise): the matches are collected once (a CTE read twice is materialised,
 * so the planner reads them through the name index) and sorted here.
 */
async function fewNameMatches(
  db: Db,
  params: { where: SQL[]; filters: ContactListFilters; after?: ContactListPosition; limit: number; cap: number },
) {
  const { filters, after } = params;
  const where = [...params.where];
  if (filters.activeSince) where.push(gte(contacts.lastActivityAt, filters.activeSince));
  if (filters.inactiveSince) where.push(or(lt(contacts.lastActivityAt, filters.inactiveSince), isNull(contacts.lastActivityAt))!);
  const matches = db.$with('matches').as(
    db
      .select(listColumns)
      .from(contacts)
      .where(and(...where))
      .limit(params.cap + 1),
  );
  let position: SQL | undefined;
  if (after?.at) {
    const at = sql`${after.at}::timestamptz`;
    position = sql`(${matches.lastActivityAt} < ${at} or (${matches.lastActivityAt} = ${at} and ${matches.id} > ${after.id}) or ${matches.lastActivityAt} is null)`;
  } else if (after) {
    position = sql`(${matches.lastActivityAt} is null and ${matches.id} > ${after.id})`;
  }
  const rows = await db
    .with(matches)
    .select({
      id: matches.id,
      phone: matches.phone,
      name: matches.name,
      tags: matches.tags,
      optedOutAt: matches.optedOutAt,
      resubscribedAt: matches.resubscribedAt,
      lastActivityAt: matches.lastActivityAt,
      lastInboundAt: matches.lastInboundAt,
      lastOutboundAt: matches.lastOutboundAt,
      createdAt: matches.createdAt,
      position: matches.position,
      matched: sql<number>`(select count(*) from ${matches})::int`,
    })
    .from(matches)
    .where(position)
    .orderBy(sql`${matches.lastActivityAt} desc nulls last`, asc(matches.id))
    .limit(params.limit);
  if (rows.some((r) => Number(r.matched) > params.cap)) return undefined;
  if (rows.length === 0) {
    // No row on this page: either nothing is left after the position, or there were too many to look at.
    const [count] = await db.with(matches).select({ n: sql<number>`count(*)::int` }).from(matches);
    if (Number(count?.n ?? 0) > params.cap) return undefined;
  }
  return rows.map(({ matched: _matched, ...row }) => row);
}

/** Changes a contact under a row lock: `change` gets the stored row and returns what to write (or throws). Undefined: no such contact. */
export async function updateContactProfile(
  db: Db,
  params: {
    tenantId: string;
    phone: string;
    change: (current: ContactRow) => { name: string | null; tags: string[]; variables: Record<string, string> };
  },
): Promise<ContactRow | undefined> {
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(contacts)
      .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.phone)))
      .for('update');
    if (!current) return undefined;
    const next = params.change(current);
    const [row] = await tx
      .update(contacts)
      .set({ name: next.name, tags: next.tags, variables: next.variables, updatedAt: sql`now()` })
      .where(eq(contacts.id, current.id))
      .returning();
    return row;
  });
}

/**
 * Re-subscribes an opted-out contact: clears the opt-out, records when and by whom, and logs a
 * `resubscribed` event in the same transaction. `not_opted_out` when it was not opted out;
 * undefined when there is no such contact.
 */
export async function resubscribeContact(
  db: Db,
  params: { tenantId: string; phone: string; by: string },
): Promise<ContactRow | 'not_opted_out' | undefined> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(contacts)
      .set({ optedOutAt: null, resubscribedAt: sql`now()`, resubscribedBy: params.by, updatedAt: sql`now()` })
      .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.phone), isNotNull(contacts.optedOutAt)))
      .returning();
    if (!row) {
      const [exists] = await tx
        .select({ id: contacts.id })
        .from(contacts)
        .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.phone)))
        .limit(1);
      return exists ? 'not_opted_out' : undefined;
    }
    await appendConversationEvents(tx, [
      { tenantId: params.tenantId, kind: 'resubscribed', occurredAt: row.resubscribedAt ?? new Date(), contactId: row.id },
    ]);
    return row;
  });
}

/** Opted-out contacts, newest opt-out first (then id), through contacts_tenant_opted_out_idx. */
export async function listOptedOutContacts(
  db: Db,
  params: { tenantId: string; after?: { at: string; id: string }; limit: number },
) {
  const where: SQL[] = [eq(contacts.tenantId, params.tenantId), isNotNull(contacts.optedOutAt)];
  if (params.after) {
    const at = sql`${params.after.at}::timestamptz`;
    where.push(sql`${contacts.optedOutAt} <= ${at}`, or(sql`${contacts.optedOutAt} < ${at}`, gt(contacts.id, params.after.id))!);
  }
  return db
    .select({
      id: contacts.id,
      phone: contacts.phone,
      name: contacts.name,
      optedOutAt: contacts.optedOutAt,
      position: sql<string>`to_char(${contacts.optedOutAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
    })
    .from(contacts)
    .where(and(...where))
    // As the index spells it (NULLS LAST; every row here has one), so no sort is needed.
    .orderBy(sql`${contacts.optedOutAt} desc nulls last`, asc(contacts.id))
    .limit(params.limit);
}

/** Tenants with an admin contact and at least one opt-out in [since, until): the daily digest's recipients. */
export async function tenantsWithOptOuts(db: Db, params: { since: Date; until: Date }): Promise<string[]> {
  const rows = await queryPrepared<{ tenant_id: string }>(db, TENANTS_WITH_OPT_OUTS, [params.since.toISOString(), params.until.toISOString()]);
  return rows.map((r) => r.tenant_id);
}

const TENANTS_WITH_OPT_OUTS = `
  select t.id as tenant_id from tenants t
  where jsonb_typeof(t.settings->'adminContact') = 'object'
    and exists (select 1 from contacts c where c.tenant_id = t.id and c.opted_out_at is not null
                and c.opted_out_at >= $1::timestamptz and c.opted_out_at < $2::timestamptz)
  order by t.id`;

/** A tenant's opt-outs in [since, until): how many, and the newest `latest` phones. */
export async function optOutsInWindow(
  db: Db,
  params: { tenantId: string; since: Date; until: Date; latest: number },
): Promise<{ count: number; phones: string[] }> {
  const rows = await queryPrepared<{ phone: string; total: number }>(db, OPT_OUTS_IN_WINDOW, [
    params.tenantId,
    params.since.toISOString(),
    params.until.toISOString(),
    params.latest,
  ]);
  return { count: rows[0]?.total ?? 0, phones: rows.map((r) => r.phone) };
}

const OPT_OUTS_IN_WINDOW = `
  select phone, (count(*) over ())::int as total from contacts
  where tenant_id = $1::uuid and opted_out_at is not null and opted_out_at >= $2::timestamptz and opted_out_at < $3::timestamptz
  order by opted_out_at desc, id
  limit $4::int`;

// ─── imports ───

export interface ImportedContact {
  phone: string;
  name: string | null;
  tags: string[];
  variables: Record<string, string>;
}

/**
 * Upserts one batch of an import (distinct phones) in one statement and records each contact
 * as a member of the import. A new contact is `imported`; an existing one `updated` (a name
 * given replaces the stored one, tags are added, variables merged: the import's win); one the
 * import already had from an earlier batch is `repeated` (the same file named it twice).
 * Opt-outs are left as they are: an import never re-subscribes anyone.
 */
export async function upsertImportedContacts(
  db: Db,
  params: { tenantId: string; importId: string; rows: ImportedContact[] },
): Promise<{ imported: number; updated: number; repeated: number }> {
  if (params.rows.length === 0) return { imported: 0, updated: 0, repeated: 0 };
  const [row] = await queryPrepared<{ imported: number; updated: number; repeated: number }>(db, UPSERT_IMPORTED, [
    params.tenantId,
    params.importId,
    JSON.stringify(params.rows),
  ]);
  return row ?? { imported: 0, updated: 0, repeated: 0 };
}

const UPSERT_IMPORTED = `
  with input as (
    select * from jsonb_to_recordset($3::text::jsonb) as x(phone text, name text, tags text[], variables jsonb)
  ), up as (
    insert into contacts as c (tenant_id, phone, name, tags, variables)
    select $1::uuid, i.phone, i.name, coalesce(i.tags, '{}'), coalesce(i.variables, '{}'::jsonb) from input i
    on conflict (tenant_id, phone) do update set
      name = coalesce(excluded.name, c.name),
      tags = case when cardinality(excluded.tags) = 0 then c.tags
                  else (select coalesce(array_agg(distinct t), '{}') from unnest(c.tags || excluded.tags) t) end,
      variables = c.variables || excluded.variables,
      updated_at = now()
    returning c.id, (c.xmax = 0) as inserted
  ), members as (
    insert into contact_import_members (import_id, contact_id)
    select $2::uuid, up.id from up
    on conflict do nothing
    returning contact_id
  )
  select (count(*) filter (where up.inserted))::int as imported,
         (count(*) filter (where not up.inserted and m.contact_id is not null))::int as updated,
         (count(*) filter (where m.contact_id is null))::int as repeated
  from up left join members m on m.contact_id = up.id`;

// ─── the dispatcher's fast path ───

/** Notes that the contact's workflow was signalled and may stay open until `until`. */
export async function markContactWorkflowOpen(db: Db, params: { tenantId: string; contactKey: string; until: Date }): Promise<void> {
  await db
    .update(contacts)
    .set({ contactWorkflowUntil: sql`greatest(${contacts.contactWorkflowUntil}, ${params.until.toISOString()}::timestamptz)` })
    .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.contactKey)));
}

/**
 * What may keep a message of the contact off the fast path, read now (not when the message
 * was loaded: an opt-out just handled by the contact workflow must count).
 */
export async function contactFastPathState(
  db: Db,
  params: { tenantId: string; contactKey: string },
): Promise<{ optedOutAt: Date | null; pausedUntil: Date | null; contactWorkflowUntil: Date | null } | undefined> {
  const [row] = await db
    .select({ optedOutAt: contacts.optedOutAt, pausedUntil: contacts.pausedUntil, contactWorkflowUntil: contacts.contactWorkflowUntil })
    .from(contacts)
    .where(and(eq(contacts.tenantId, params.tenantId), eq(contacts.phone, params.contactKey)))
    .limit(1);
  return row;
}
