/**
 * Issue 20, inbound bounds in the parsers (all three providers): texts kept up to WhatsApp's
 * own 65,536 characters, longer ones cut there and flagged; message times before 2009 or
 * more than a day ahead refused as a parse error with the field path, so the ingest keeps
 * the body as `rejected` (never a 500).
 */
import { and, eq } from 'drizzle-orm';
import { messages, webhookEvents } from '../../src/db/schema';
import type { MessageEvent, StatusEvent } from '../../src/domain/events';
import { MAX_TEXT_CHARS, describeParseError, parseEvolution, parseLancePilot, parseMeta } from '../../src/ingest/parse';
import { postJson } from '../support/http';
import { evolutionText, metaInbound, uniqueId } from '../support/payloads';
import { seedTenantWithChannel, startStack, type Stack } from '../support/stack';

const NOW = Date.UTC(2026, 2, 10, 15, 0, 0);
const NOW_S = Math.floor(NOW / 1000);
const DAY_S = 24 * 60 * 60;
/** 70,000 characters, with a marker at 65,535 to prove where the cut fell. */
const LONG = `${'a'.repeat(MAX_TEXT_CHARS - 1)}Z${'b'.repeat(70_000 - MAX_TEXT_CHARS)}`;

function pathOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect((err as Error).name).toBe('ZodError');
    return describeParseError(err).path;
  }
  throw new Error('expected a parse error');
}

const evolutionBody = (text: string, ts: unknown = NOW_S) => {
  const body = evolutionText({ instance: 'loja-centro', phone: '5511988880001', text }) as any;
  body.data.messageTimestamp = ts;
  return body;
};
const metaBody = (message: Record<string, unknown>, ts: string = String(NOW_S)) => {
  const body = metaInbound({ phoneNumberId: '600000000000001', from: '5511988880002', message }) as any;
  body.entry[0].changes[0].value.messages[0].timestamp = ts;
  return body;
};
const evolutionMessage = (body: unknown) => parseEvolution(body, { receivedAt: NOW }).items[0]!.event as MessageEvent;
const metaMessage = (body: unknown) => parseMeta(body, { receivedAt: NOW }).items[0]!.event as MessageEvent;

describe('parsers: texts cut at 65,536 characters and flagged', () => {
  it('Evolution: a 70,000-character text', () => {
    const m = evolutionMessage(evolutionBody(LONG));
    expect(m.text).toHaveLength(MAX_TEXT_CHARS);
    expect(m.text!.endsWith('aZ')).toBe(true);
    expect(m.truncated).toBe(true);
  });

  it('Evolution: a text at the limit is kept whole and not flagged', () => {
    const m = evolutionMessage(evolutionBody('x'.repeat(MAX_TEXT_CHARS)));
    expect(m.text).toHaveLength(MAX_TEXT_CHARS);
    expect(m.truncated).toBeUndefined();
  });

  it('Meta: a 70,000-character text and a 70,000-character caption', () => {
    const text = metaMessage(metaBody({ type: 'text', text: { body: LONG } }));
    expect(text).toMatchObject({ type: 'text', truncated: true });
    expect(text.text).toHaveLength(MAX_TEXT_CHARS);
    const image = metaMessage(metaBody({ type: 'image', image: { id: '123', mime_type: 'image/jpeg', caption: LONG } }));
    expect(image.truncated).toBe(true);
    expect(image.media!.caption).toHaveLength(MAX_TEXT_CHARS);
    expect(image.text).toHaveLength(MAX_TEXT_CHARS);
  });

  it('LancePilot: a 70,000-character text (flat body)', () => {
    const parsed = parseLancePilot(
      { event: 'message.received', account: 'lp-1', data: { id: 'lp-msg-1', from: '5511988880003', text: LONG, timestamp: NOW_S } },
      {},
      { receivedAt: NOW },
    );
    const m = parsed.items[0]!.event as MessageEvent;
    expect(m.text).toHaveLength(MAX_TEXT_CHARS);
    expect(m.truncated).toBe(true);
  });

  it('never leaves half a surrogate pair at the cut', () => {
    const emoji = `${'a'.repeat(MAX_TEXT_CHARS - 1)}😀${'b'.repeat(10)}`;
    const m = evolutionMessage(evolutionBody(emoji));
    expect(m.text).toBe('a'.repeat(MAX_TEXT_CHARS - 1));
    expect(m.truncated).toBe(true);
  });
});

describe('parsers: out-of-range message times refused with their path', () => {
  it('Evolution: before 2009, or more than a day ahead; a few hours ahead is fine', () => {
    expect(pathOf(() => parseEvolution(evolutionBody('oi', 1_000), { receivedAt: NOW }))).toBe('data.messageTimestamp');
    expect(pathOf(() => parseEvolution(evolutionBody('oi', NOW_S + 2 * DAY_S), { receivedAt: NOW }))).toBe('data.messageTimestamp');
    expect(pathOf(() => parseEvolution(evolutionBody('oi', '99999999999999'), { receivedAt: NOW }))).toBe('data.messageTimestamp');
    expect(evolutionMessage(evolutionBody('oi', NOW_S + 3 * 60 * 60)).timestamp).toBe((NOW_S + 3 * 60 * 60) * 1000);
    // Without messageTimestamp, date_time is checked the same way.
    const body = evolutionBody('oi', null);
    body.date_time = '2001-01-01T00:00:00.000Z';
    expect(pathOf(() => parseEvolution(body, { receivedAt: NOW }))).toBe('date_time');
    // In a list, the element's own path.
    const list = { ...evolutionBody('oi'), data: [evolutionBody('a').data, evolutionBody('b', 5).data] };
    expect(pathOf(() => parseEvolution(list, { receivedAt: NOW }))).toBe('data.1.messageTimestamp');
  });

  it('Meta: messages and statuses', () => {
    expect(pathOf(() => parseMeta(metaBody({ type: 'text', text: { body: 'oi' } }, '100'), { receivedAt: NOW }))).toBe(
      'entry.0.changes.0.value.messages.0.timestamp',
    );
    expect(pathOf(() => parseMeta(metaBody({ type: 'text', text: { body: 'oi' } }, String(NOW_S + 3 * DAY_S)), { receivedAt: NOW }))).toBe(
      'entry.0.changes.0.value.messages.0.timestamp',
    );
    const status = metaBody({ type: 'text', text: { body: 'oi' } });
    const value = status.entry[0].changes[0].value;
    delete value.messages;
    value.statuses = [{ id: 'wamid.S1', status: 'read', timestamp: String(NOW_S), recipient_id: '5511988880002' }, { id: 'wamid.S2', status: 'read', timestamp: '1' }];
    expect(pathOf(() => parseMeta(status, { receivedAt: NOW }))).toBe('entry.0.changes.0.value.statuses.1.timestamp');
    value.statuses.pop();
    expect((parseMeta(status, { receivedAt: NOW }).items[0]!.event as StatusEvent).timestamp).toBe(NOW_S * 1000);
  });

  it('LancePilot: at the path the time was read from (also through the Meta shapes)', () => {
    const flat = { event: 'message.received', account: 'lp-1', data: { id: 'lp-1', from: '5511988880003', text: 'oi', timestamp: NOW_S + 5 * DAY_S } };
    expect(pathOf(() => parseLancePilot(flat, {}, { receivedAt: NOW }))).toBe('data.timestamp');
    const cloudValue = metaBody({ type: 'text', text: { body: 'oi' } }, '7').entry[0].changes[0].value;
    expect(pathOf(() => parseLancePilot(cloudValue, {}, { receivedAt: NOW }))).toBe('messages.0.timestamp');
  });
});

describe('ingest: the bounds end to end', () => {
  let stack: Stack;
  let tenant: Awaited<ReturnType<typeof seedTenantWithChannel>>;
  const post = (body: unknown) => postJson(`${stack.url}/webhooks/evolution`, body, { 'x-zapflow-secret': 'hardening-secret' });

  beforeAll(async () => {
    stack = await startStack();
    tenant = await seedTenantWithChannel(stack.db, 'Loja Limites', {
      provider: 'evolution',
      externalId: 'loja-centro',
      baseUrl: 'http://127.0.0.1:1',
      apiKey: 'evo-key',
      webhookSecret: 'hardening-secret',
    });
  });
  afterAll(() => stack?.close());

  it('stores a 70,000-character inbound text cut at 65,536, flagged', async () => {
    const id = uniqueId();
    const body = evolutionText({ instance: 'loja-centro', phone: '5511988880010', text: LONG, id });
    const res = await post(body);
    expect(res.status).toBe(200);
    const [row] = await stack.db.db.select().from(messages).where(and(eq(messages.channelId, tenant.channel.id), eq(messages.providerMessageId, id)));
    expect(row!.body).toHaveLength(MAX_TEXT_CHARS);
    expect(row!.body).toBe(LONG.slice(0, MAX_TEXT_CHARS));
    expect(row!.payload).toMatchObject({ truncated: true });
  });

  it('keeps a message from 1970 as rejected with the field path, not a 500', async () => {
    const body = evolutionText({ instance: 'loja-centro', phone: '5511988880011', text: 'oi' });
    body.data.messageTimestamp = 42;
    const res = await post(body);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('rejected');
    const [event] = await stack.db.db.select().from(webhookEvents).where(eq(webhookEvents.id, res.body.eventId));
    expect(event!.error).toMatchObject({ path: 'data.messageTimestamp' });
    expect(await stack.db.db.select().from(messages).where(eq(messages.channelId, tenant.channel.id)).then((rows) => rows.some((r) => r.body === 'oi'))).toBe(false);
  });
});
