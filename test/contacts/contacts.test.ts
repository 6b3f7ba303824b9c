/**
 * Contacts through the API, on real parts: lists with search (phone prefix, name words with
 * accents and case ignored), tag, opt-out and activity filters and cursor pages that neither
 * repeat nor skip; a profile with active runs; PATCH of name, tags and variables within
 * bounds; re-subscription recorded with the API key, the time and a `resubscribed` event;
 * opt-outs newest first; another tenant's contact is 404; an imported column is a `{{variable}}`
 * in a funnel's message.
 */
import { and, eq } from 'drizzle-orm';
import { listContacts, type ContactListPosition } from '../../src/db/queries/contacts';
import { apiKeys, contacts, conversationEvents } from '../../src/db/schema';
import { createTenant } from '../../src/services/tenants';
import { getJson } from '../support/http';
import { eventually } from '../support/stack';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';

describe('contacts API', () => {
  let f: FunnelStack;
  let tenantId: string;
  const HOUR = 3_600_000;

  beforeAll(async () => {
    f = await startFunnelStack();
    tenantId = f.tenant.tenant.id;
  });
  afterAll(() => f.close());

  const importCsv = (csv: string) =>
    getJson(`${f.stack.url}/api/contacts/import`, { method: 'POST', headers: { authorization: `Bearer ${f.tenant.apiKey}`, 'content-type': 'text/csv' }, body: csv });
  /** Sets a contact's last inbound message `hoursAgo` (null: never). */
  const activeAgo = (phone: string, hoursAgo: number | null) =>
    f.stack.db.db
      .update(contacts)
      .set({ lastInboundAt: hoursAgo === null ? null : new Date(Date.now() - hoursAgo * HOUR) })
      .where(and(eq(contacts.tenantId, tenantId), eq(contacts.phone, phone)));
  const list = async (query: string) => {
    const res = await f.api('GET', `/api/contacts${query}`);
    expect(res.status).toBe(200);
    return res.body as { contacts: Array<{ phone: string; name: string; tags: string[]; optedOut: boolean }>; nextCursor: string | null };
  };
  const phones = async (query: string) => (await list(query)).contacts.map((c) => c.phone);

  it('lists, searches, filters and pages contacts by last activity', async () => {
    const res = await importCsv(
      [
        'phone,name,tags',
        '5511970000001,Ana Conceição,vip',
        '5511970000002,JOÃO SILVA,"vip,sp"',
        '5521970000003,Márcia Araújo,sp',
        '5511970000004,Joana Prado,',
        '5511970000005,Pedro Lima,lead',
        '5511970000006,Sem Atividade,lead',
      ].join('\n'),
    );
    expect(res.body).toMatchObject({ status: 'completed', imported: 6 });
    await activeAgo('5511970000001', 1);
    await activeAgo('5511970000002', 2);
    await activeAgo('5521970000003', 3);
    await activeAgo('5511970000004', 24 * 40);
    await activeAgo('5511970000005', 24 * 60);
    await f.stack.db.db.update(contacts).set({ optedOutAt: new Date() }).where(and(eq(contacts.tenantId, tenantId), eq(contacts.phone, '5511970000005')));

    // Most recent first; never-active contacts last.
    expect(await phones('?limit=200')).toEqual(['5511970000001', '5511970000002', '5521970000003', '5511970000004', '5511970000005', '5511970000006']);
    // Name words: prefixes, accents and case ignored, every word must match.
    expect(await phones('?q=conceicao')).toEqual(['5511970000001']);
    expect(await phones('?q=jo')).toEqual(['5511970000002', '5511970000004']);
    expect(await phones('?q=joao%20sil')).toEqual(['5511970000002']);
    expect(await phones('?q=MARCIA')).toEqual(['5521970000003']);
    // Phone digits: a prefix, with or without the country code and punctuation.
    expect(await phones('?q=%2B55%2021')).toEqual(['5521970000003']);
    expect(await phones('?q=(11)%2097000-000')).toEqual(['5511970000001', '5511970000002', '5511970000004', '5511970000005', '5511970000006']);
    // Tags (any of), opt-out, activity.
    expect(await phones('?tag=vip')).toEqual(['5511970000001', '5511970000002']);
    expect(await phones('?tag=sp&tag=lead')).toEqual(['5511970000002', '5521970000003', '5511970000005', '5511970000006']);
    expect(await phones('?tag=sp,lead&optedOut=false')).toEqual(['5511970000002', '5521970000003', '5511970000006']);
    expect(await phones('?optedOut=true')).toEqual(['5511970000005']);
    expect(await phones('?activeSince=30d')).toEqual(['5511970000001', '5511970000002', '5521970000003']);
    expect(await phones('?inactiveSince=30d')).toEqual(['5511970000004', '5511970000005', '5511970000006']);
    expect(await phones(`?activeSince=${encodeURIComponent(new Date(Date.now() - 150 * 60_000).toISOString())}`)).toEqual(['5511970000001', '5511970000002']);

    // Pages of 2 walk everything once, across the rows without activity.
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await list(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.contacts.map((c) => c.phone));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen).toEqual(await phones('?limit=200'));
    expect(pages).toBe(3);
    // Filters page too.
    const first = await list('?inactiveSince=30d&limit=1');
    const second = await list(`?inactiveSince=30d&limit=1&cursor=${first.nextCursor}`);
    expect([...first.contacts, ...second.contacts].map((c) => c.phone)).toEqual(['5511970000004', '5511970000005']);

    // A name search pages too, whether answered from its few matches or along the activity index.
    const names: string[] = [];
    let nameCursor: string | null = null;
    do {
      const page = await list(`?q=silva%20jo&limit=1${nameCursor ? `&cursor=${nameCursor}` : ''}`);
      names.push(...page.contacts.map((c) => c.phone));
      nameCursor = page.nextCursor;
    } while (nameCursor && names.length < 10);
    expect(names).toEqual(['5511970000002']);
    const everyone = await listContacts(f.stack.db.db, { tenantId, filters: { nameWords: ['a'] }, limit: 100 });
    for (const cap of [1, 100]) {
      const walked: string[] = [];
      let after: ContactListPosition | undefined;
      for (let i = 0; i < 10; i++) {
        const page = await listContacts(f.stack.db.db, { tenantId, filters: { nameWords: ['a'] }, after, limit: 2, fewNameMatches: cap });
        walked.push(...page.map((r) => r.phone));
        if (page.length < 2) break;
        after = { at: page[1]!.position, id: page[1]!.id };
      }
      expect(walked).toEqual(everyone.map((r) => r.phone));
    }
    expect(everyone.map((r) => r.phone)).toEqual(['5511970000001', '5521970000003', '5511970000006']); // Ana, Araújo, Atividade

    // Bad input names the field.
    for (const [query, field] of [
      ['?limit=201', 'limit'],
      ['?cursor=nonsense', 'cursor'],
      ['?activeSince=yesterday', 'activeSince'],
      ['?optedOut=maybe', 'optedOut'],
    ]) {
      const bad = await f.api('GET', `/api/contacts${query}`);
      expect(bad.status).toBe(400);
      expect(bad.body.error.details[0].path).toBe(field);
    }
  });

  it('shows and changes a profile within bounds, and hides it from another tenant', async () => {
    const phone = '5511970000010';
    await importCsv(`phone,name,tags,plano\n${phone},Rita,vip,anual\n`);
    const got = await f.api('GET', '/api/contacts/(11)%2097000-0010');
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ phone, name: 'Rita', tags: ['vip'], variables: { plano: 'anual' }, optOut: { optedOut: false }, activeRuns: [] });

    const patched = await f.api('PATCH', `/api/contacts/${phone}`, { name: 'Rita Lee', addTags: ['sp', 'vip'], removeTags: ['vip'], variables: { 'Cidade Natal': 'Santos', plano: null } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'Rita Lee', tags: ['sp'], variables: { cidade_natal: 'Santos' } });
    expect(patched.body.variables.plano).toBeUndefined();
    const replaced = await f.api('PATCH', `/api/contacts/${phone}`, { tags: ['a', 'b', 'a'] });
    expect(replaced.body.tags).toEqual(['a', 'b']);

    for (const [body, field] of [
      [{ tags: Array.from({ length: 101 }, (_, i) => `t${i}`) }, 'tags'],
      [{ addTags: ['x'.repeat(65)] }, 'addTags.0'],
      [{ variables: { phone: '1' } }, 'variables.phone'],
      [{ variables: { v: 'x'.repeat(1_001) } }, 'variables.v'],
      [{ tags: ['a'], addTags: ['b'] }, 'tags'],
      [{ surprise: 1 }, '(body)'],
    ] as const) {
      const bad = await f.api('PATCH', `/api/contacts/${phone}`, body);
      expect(bad.status).toBe(400);
      expect(bad.body.error.details[0].path).toBe(field);
    }
    expect((await f.api('PATCH', '/api/contacts/5511970009999', { name: 'x' })).status).toBe(404);
    expect((await f.api('GET', '/api/contacts/5511970009999')).status).toBe(404);

    const other = await createTenant(f.stack.db.db, { name: 'Outra' });
    expect((await f.api('GET', `/api/contacts/${phone}`, undefined, other.apiKey)).status).toBe(404);
    expect((await f.api('PATCH', `/api/contacts/${phone}`, { name: 'hack' }, other.apiKey)).status).toBe(404);
    expect((await f.api('DELETE', `/api/contacts/${phone}/opt-out`, undefined, other.apiKey)).status).toBe(404);
    expect((await f.api('GET', '/api/contacts', undefined, other.apiKey)).body.contacts).toEqual([]);
    expect((await f.api('GET', '/api/opt-outs', undefined, other.apiKey)).body.optOuts).toEqual([]);
    expect((await f.api('GET', `/api/contacts/${phone}`)).body.name).toBe('Rita Lee');
  });

  it('lists opt-outs newest first and records a re-subscription with who, when and an event', async () => {
    const base = Date.now() - 10 * HOUR;
    const optedOut = ['5511970000021', '5511970000022', '5511970000023'];
    await importCsv(`phone,name\n${optedOut.map((p) => `${p},Saiu`).join('\n')}\n`);
    for (const [i, phone] of optedOut.entries()) {
      await f.stack.db.db.update(contacts).set({ optedOutAt: new Date(base + i * HOUR) }).where(and(eq(contacts.tenantId, tenantId), eq(contacts.phone, phone)));
    }
    const page1 = await f.api('GET', '/api/opt-outs?limit=2');
    const page2 = await f.api('GET', `/api/opt-outs?limit=2&cursor=${page1.body.nextCursor}`);
    const all = [...page1.body.optOuts, ...page2.body.optOuts].map((o: { phone: string }) => o.phone);
    expect(all.filter((p: string) => optedOut.includes(p))).toEqual([...optedOut].reverse());

    const phone = optedOut[1]!;
    const res = await f.api('DELETE', `/api/contacts/${phone}/opt-out`);
    expect(res.status).toBe(200);
    expect(res.body.optOut).toMatchObject({ optedOut: false, optedOutAt: null, resubscribedAt: expect.any(String) });
    const [key] = await f.stack.db.db.select({ id: apiKeys.id }).from(apiKeys).where(eq(apiKeys.tenantId, tenantId));
    expect(res.body.optOut.resubscribedBy).toBe(key!.id);
    const events = await f.stack.db.db.select().from(conversationEvents).where(and(eq(conversationEvents.tenantId, tenantId), eq(conversationEvents.kind, 'resubscribed')));
    expect(events).toHaveLength(1);
    expect(events[0]!.contactId).toBe(res.body.id);
    // Not opted out any more: 409; unknown: 404.
    expect((await f.api('DELETE', `/api/contacts/${phone}/opt-out`)).status).toBe(409);
    expect((await f.api('DELETE', '/api/contacts/5511970009998/opt-out')).status).toBe(404);
    expect((await f.api('GET', '/api/opt-outs?limit=200')).body.optOuts.map((o: { phone: string }) => o.phone)).not.toContain(phone);
  });

  it("fills a funnel message's {{column}} from an imported variable", async () => {
    const phone = '5511970000030';
    await importCsv(`telefone,nome,Plano Preferido\n${phone},Lia,anual\n`);
    const created = await f.api('POST', '/api/funnels', funnelDef({ steps: [{ id: 'hello', type: 'send', message: { type: 'text', text: 'Oi {{name}}, o plano {{plano_preferido}}?' } }] }));
    expect(created.status).toBe(201);
    await f.click(phone, { displayText: 'Pode falar sim!', name: 'Lia' });
    await eventually(async () => f.sentTo(phone).length === 1, 20_000, 'the funnel send');
    expect(f.sentTo(phone)[0]!.body.text).toBe('Oi Lia, o plano anual?');
    // While the run is active, the profile shows it.
    const profile = await f.api('GET', `/api/contacts/${phone}`);
    expect(profile.status).toBe(200);
    expect(Array.isArray(profile.body.activeRuns)).toBe(true);
  });
});
