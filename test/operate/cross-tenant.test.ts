/**
 * Tenant isolation on the conversation routes: tenant B's key never reads or changes
 * tenant A's contacts, knowledge or AI records (funnel and sending routes have their own).
 */
import { and, eq } from 'drizzle-orm';
import { contacts } from '../../src/db/schema';
import { createTenant } from '../../src/services/tenants';
import { eventually } from '../support/stack';
import { startFunnelStack, type FunnelStack } from '../support/funnels';

describe('cross-tenant access to conversation routes', () => {
  let f: FunnelStack;
  beforeAll(async () => {
    f = await startFunnelStack();
  });
  afterAll(() => f.close());

  it("answers B's key with 404 or empty lists, never A's data, and changes nothing", async () => {
    const phone = '5511944449999';
    await f.say(phone, 'oi');
    await eventually(async () => (await f.stack.db.db.select().from(contacts).where(eq(contacts.phone, phone)))[0]);
    const created = await f.api('POST', '/api/knowledge', { title: 'Entrega', content: 'Entregamos em todo o Brasil em até 5 dias úteis.' });
    expect(created.status).toBe(201);
    const snippetId = created.body.snippets[0].id;
    const other = await createTenant(f.stack.db.db, { name: 'Outra' });
    const asB = (method: string, path: string, body?: unknown) => f.api(method, path, body, other.apiKey);

    expect((await asB('POST', `/api/contacts/${phone}/handover`, {})).status).toBe(404);
    expect((await asB('DELETE', `/api/contacts/${phone}/handover`)).status).toBe(404);
    expect((await asB('GET', `/api/contacts/${phone}/conversation`)).status).toBe(404);
    expect((await asB('DELETE', `/api/knowledge/${snippetId}`)).status).toBe(404);
    expect((await asB('GET', '/api/knowledge')).body.snippets).toEqual([]);
    expect((await asB('GET', '/api/knowledge/search?q=entrega')).body.snippets).toEqual([]);
    const calls = await asB('GET', '/api/conversations/ai-calls');
    expect(calls.status).toBe(200);
    expect(JSON.stringify(calls.body)).not.toContain(phone);

    // A's data is untouched.
    const [contact] = await f.stack.db.db.select().from(contacts).where(and(eq(contacts.tenantId, f.tenant.tenant.id), eq(contacts.phone, phone)));
    expect(contact!.pausedUntil).toBeNull();
    expect((await f.api('GET', '/api/knowledge')).body.snippets.map((s: { id: string }) => s.id)).toEqual([snippetId]);
  });
});
