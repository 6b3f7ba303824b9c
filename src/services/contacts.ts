/**
 * Contacts as the API manages them: lists with search and filters (cursor pages), a
 * contact's profile, changes to its name, tags and variables, opt-outs and re-subscription.
 * The bounds below hold for every way in (PATCH and CSV imports alike).
 */
import type { Client } from '@temporalio/client';
import { contactWorkflowId } from '../domain/workflowIds';
import { signalIfRunning } from '../temporal/signals';
import { contactResubscribedSignal } from '../workflows/definitions';
import type { Db } from '../db/client';
import {
  getContact,
  listContacts,
  listOptedOutContacts,
  resubscribeContact,
  updateContactProfile,
  type ContactListFilters,
  type ContactListPosition,
  type ContactListRow,
  type ContactRow,
} from '../db/queries/contacts';
import { activeRunsOfContact } from '../db/queries/funnelRuns';
import { DomainError } from '../domain/errors';
import { digitsOf } from '../domain/phone';

/** Size bounds of what a contact holds. */
export const CONTACT_LIMITS = {
  nameChars: 200,
  tags: 100,
  tagChars: 64,
  variables: 100,
  variableKeyChars: 64,
  variableValueChars: 1_000,
} as const;

/** Keys `{{name}}` and `{{phone}}` already mean the contact's own: no variable may take them. */
const RESERVED_VARIABLES = new Set(['name', 'phone']);

/**
 * A column header or variable name as a template key: lower case, accents dropped, anything
 * but letters, digits and `_` turned into `_` ("Data de Nascimento" → `data_de_nascimento`),
 * usable as `{{data_de_nascimento}}`. Empty when nothing is left.
 */
export function variableKey(raw: string): string {
  return raw
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** Why a variable key cannot be used, or undefined. */
export function variableKeyProblem(key: string): string | undefined {
  if (!key) return 'is empty once reduced to letters, digits and _';
  if (key.length > CONTACT_LIMITS.variableKeyChars) return `is longer than ${CONTACT_LIMITS.variableKeyChars} characters`;
  if (RESERVED_VARIABLES.has(key)) return `"${key}" is the contact's own {{${key}}}`;
  return undefined;
}

/** A tag as stored: trimmed, NUL-free; why it cannot be used, if so. */
export function cleanTag(raw: string): { tag: string; problem?: string } {
  const tag = raw.replace(/\u0000/g, '').trim();
  if (!tag) return { tag, problem: 'is empty' };
  if (tag.length > CONTACT_LIMITS.tagChars) return { tag, problem: `"${tag.slice(0, 20)}…" is longer than ${CONTACT_LIMITS.tagChars} characters` };
  return { tag };
}

/** Distinct tags, first spelling kept, in order. */
export function uniqueTags(tags: Iterable<string>): string[] {
  return [...new Set(tags)];
}

/** A search box's text: digits (with `+`, spaces, dashes, parentheses) search phones by prefix; anything else, name words. */
export function parseContactSearch(q: string): Pick<ContactListFilters, 'phonePrefixes' | 'nameWords'> {
  const text = q.trim();
  if (!text) return {};
  if (/^[\d\s+().-]+$/.test(text)) {
    const digits = digitsOf(text);
    if (!digits) return {};
    // Stored phones carry the country code: "11 9999" is also tried as "55 11 9999".
    const prefixes = digits.startsWith('55') || text.startsWith('+') ? [digits] : [digits, `55${digits.replace(/^0/, '')}`];
    return { phonePrefixes: uniqueTags(prefixes) };
  }
  const words = text
    .split(/[^\p{L}\p{N}]+/u)
    .map((w) => w.toLowerCase())
    .filter(Boolean)
    .slice(0, 8);
  return words.length ? { nameWords: words } : {};
}

/** An opaque page cursor: base64url of the last row's position. */
export function encodeCursor(position: { at: string | null; id: string }): string {
  return Buffer.from(JSON.stringify([position.at, position.id])).toString('base64url');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const POSITION_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** A position time as listContacts writes it, and a real time (no 30 February). */
function isPositionTime(value: unknown): value is string {
  if (typeof value !== 'string' || !POSITION_TIME.test(value)) return false;
  const date = new Date(`${value.slice(0, 23)}Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 19) === value.slice(0, 19);
}

export function decodeCursor(cursor: string): ContactListPosition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (
    Array.isArray(parsed) &&
    parsed.length === 2 &&
    (parsed[0] === null || isPositionTime(parsed[0])) &&
    typeof parsed[1] === 'string' &&
    UUID.test(parsed[1])
  ) {
    return { at: parsed[0] as string | null, id: parsed[1] };
  }
  throw new DomainError('Invalid', 'is not a cursor this API returned', 'cursor');
}

export class ContactNotFound extends DomainError {
  override name = 'ContactNotFound';
  constructor(contactKey: string) {
    super('NotFound', `contact ${contactKey} not found`);
  }
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

function listView(row: ContactListRow) {
  return {
    phone: row.phone,
    name: row.name,
    tags: row.tags,
    optedOut: row.optedOutAt !== null,
    optedOutAt: iso(row.optedOutAt),
    resubscribedAt: iso(row.resubscribedAt),
    lastActivityAt: iso(row.lastActivityAt),
    lastInboundAt: iso(row.lastInboundAt),
    lastOutboundAt: iso(row.lastOutboundAt),
    createdAt: iso(row.createdAt),
  };
}

function profileView(row: ContactRow) {
  const paused = row.pausedUntil && row.pausedUntil.getTime() > Date.now();
  return {
    id: row.id,
    phone: row.phone,
    name: row.name,
    tags: row.tags,
    variables: row.variables,
    optOut: {
      optedOut: row.optedOutAt !== null,
      optedOutAt: iso(row.optedOutAt),
      resubscribedAt: iso(row.resubscribedAt),
      resubscribedBy: row.resubscribedBy,
    },
    pausedUntil: paused ? iso(row.pausedUntil) : null,
    pauseReason: paused ? row.pauseReason : null,
    lastActivityAt: iso(row.lastActivityAt),
    lastInboundAt: iso(row.lastInboundAt),
    lastOutboundAt: iso(row.lastOutboundAt),
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

/** PATCH /api/contacts/:phone, validated by the API: `tags` replaces; `addTags`/`removeTags` change; variables merge (null removes). */
export interface ContactChange {
  name?: string | null;
  tags?: string[];
  addTags?: string[];
  removeTags?: string[];
  variables?: Record<string, string | null>;
}

/** The contact after `change`, within the bounds (Invalid naming the field otherwise). Pure. */
export function applyContactChange(current: Pick<ContactRow, 'name' | 'tags' | 'variables'>, change: ContactChange) {
  const name = change.name === undefined ? current.name : change.name === null || change.name.trim() === '' ? null : change.name.trim();
  if (name && name.length > CONTACT_LIMITS.nameChars) throw new DomainError('Invalid', `is longer than ${CONTACT_LIMITS.nameChars} characters`, 'name');
  const clean = (field: string, list: string[]) =>
    list.map((raw, i) => {
      const { tag, problem } = cleanTag(raw);
      if (problem) throw new DomainError('Invalid', problem, `${field}.${i}`);
      return tag;
    });
  let tags = change.tags !== undefined ? uniqueTags(clean('tags', change.tags)) : [...current.tags];
  if (change.addTags) tags = uniqueTags([...tags, ...clean('addTags', change.addTags)]);
  if (change.removeTags) {
    const remove = new Set(clean('removeTags', change.removeTags));
    tags = tags.filter((t) => !remove.has(t));
  }
  if (tags.length > CONTACT_LIMITS.tags) throw new DomainError('Invalid', `a contact has at most ${CONTACT_LIMITS.tags} tags (this change makes ${tags.length})`, 'tags');
  const variables = { ...current.variables };
  for (const [rawKey, value] of Object.entries(change.variables ?? {})) {
    const key = variableKey(rawKey);
    const problem = variableKeyProblem(key);
    if (problem) throw new DomainError('Invalid', `key ${problem}`, `variables.${rawKey}`);
    if (value === null) delete variables[key];
    else if (value.length > CONTACT_LIMITS.variableValueChars) {
      throw new DomainError('Invalid', `is longer than ${CONTACT_LIMITS.variableValueChars} characters`, `variables.${rawKey}`);
    } else variables[key] = value;
  }
  if (Object.keys(variables).length > CONTACT_LIMITS.variables) {
    throw new DomainError('Invalid', `a contact has at most ${CONTACT_LIMITS.variables} variables`, 'variables');
  }
  return { name, tags, variables };
}

export class ContactsService {
  constructor(
    private readonly db: Db,
    /** To tell a running contact workflow about a re-subscription (absent: it learns from the next message's row). */
    private readonly temporal?: Client,
  ) {}

  async list(tenantId: string, params: { filters: ContactListFilters; cursor?: string; limit: number }) {
    const after = params.cursor ? decodeCursor(params.cursor) : undefined;
    const rows = await listContacts(this.db, { tenantId, filters: params.filters, after, limit: params.limit + 1 });
    const page = rows.slice(0, params.limit);
    const last = page[page.length - 1];
    const nextCursor = rows.length > params.limit && last ? encodeCursor({ at: last.position, id: last.id }) : null;
    return { contacts: page.map(listView), nextCursor };
  }

  async get(tenantId: string, contactKey: string) {
    const row = await getContact(this.db, { tenantId, phone: contactKey });
    if (!row) throw new ContactNotFound(contactKey);
    const runs = await activeRunsOfContact(this.db, { tenantId, contactKey });
    return {
      ...profileView(row),
      activeRuns: runs.map((r) => ({
        id: r.id,
        funnelId: r.funnelId,
        status: r.status,
        step: r.currentStep,
        waitingFor: r.waitingFor,
        waitingUntil: iso(r.waitingUntil),
        startedAt: iso(r.startedAt),
      })),
    };
  }

  async update(tenantId: string, contactKey: string, change: ContactChange) {
    const row = await updateContactProfile(this.db, { tenantId, phone: contactKey, change: (current) => applyContactChange(current, change) });
    if (!row) throw new ContactNotFound(contactKey);
    return this.get(tenantId, contactKey);
  }

  /** Clears the opt-out; `by` is who asked (the API key's id). Conflict when the contact is not opted out. */
  async resubscribe(tenantId: string, contactKey: string, by: string) {
    const result = await resubscribeContact(this.db, { tenantId, phone: contactKey, by });
    if (result === undefined) throw new ContactNotFound(contactKey);
    if (result === 'not_opted_out') throw new DomainError('Conflict', `contact ${contactKey} is not opted out`);
    // A contact workflow still running holds "opted out" in memory: tell it.
    if (this.temporal) await signalIfRunning(this.temporal, contactWorkflowId(tenantId, contactKey), contactResubscribedSignal);
    return this.get(tenantId, contactKey);
  }

  async optOuts(tenantId: string, params: { cursor?: string; limit: number }) {
    let after: { at: string; id: string } | undefined;
    if (params.cursor) {
      const position = decodeCursor(params.cursor);
      if (position.at === null) throw new DomainError('Invalid', 'is not a cursor this API returned', 'cursor');
      after = { at: position.at, id: position.id };
    }
    const rows = await listOptedOutContacts(this.db, { tenantId, after, limit: params.limit + 1 });
    const page = rows.slice(0, params.limit);
    const last = page[page.length - 1];
    return {
      optOuts: page.map((r) => ({ phone: r.phone, name: r.name, optedOutAt: iso(r.optedOutAt) })),
      nextCursor: rows.length > params.limit && last ? encodeCursor({ at: last.position, id: last.id }) : null,
    };
  }
}
