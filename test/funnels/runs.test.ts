import { and, eq } from 'drizzle-orm';
import { contacts, funnelRuns, tenants } from '../../src/db/schema';
import { addChannel } from '../../src/services/channels';
import { uniqueId } from '../support/payloads';
import { eventually } from '../support/stack';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';

describe('funnel runs', () => {
  let f: FunnelStack;
  let phoneSeq = 0;
  const nextPhone = () => `55119555${String(++phoneSeq).padStart(5, '0')}`;
  const runsOf = (phone: string) => f.stack.db.db.select().from(funnelRuns).where(eq(funnelRuns.contactKey, phone));
  const finishedRuns = async (phone: string, n: number) =>
    eventually(async () => {
      const rows = await runsOf(phone);
      return rows.filter((r) => ['completed', 'failed', 'cancelled'].includes(r.status)).length >= n ? rows : undefined;
    }, 20_000, `${n} finished run(s) for ${phone}`);
  const createFunnel = async (def: Record<string, unknown>) => {
    const res = await f.api('POST', '/api/funnels', def);
    expect(res.status).toBe(201);
    return res.body as { id: string; version: number };
  };
  const deactivateAll = async () => {
    const list = await f.api('GET', '/api/funnels');
    for (const funnel of list.body.funnels) await f.api('POST', `/api/funnels/${funnel.id}/deactivate`);
  };

  beforeAll(async () => {
    f = await startFunnelStack();
  });
  afterAll(() => f.close());
  beforeEach(() => deactivateAll());

  it('walks every step type: send kinds, typing, delay, wait with branches, tag/untag, set, goto, end', async () => {
    await createFunnel(
      funnelDef({
        steps: [
          { id: 'hello', type: 'send', message: { type: 'text', text: 'Oi {{name}}!' } },
          { id: 'typing', type: 'typing', duration: '300ms' },
          { id: 'photo', type: 'send', message: { type: 'media', mediaType: 'image', url: 'https://cdn.example.com/plano.jpg', caption: 'Plano anual' } },
          { id: 'tag', type: 'tag', tags: ['lead', 'quente'] },
          { id: 'untag', type: 'untag', tags: ['quente'] },
          { id: 'plan', type: 'set', variable: 'plano', value: 'anual de {{name}}' },
          {
            id: 'ask',
            type: 'send',
            message: { type: 'buttons', text: 'Quer o {{plano}}?', buttons: [{ id: 'sim', title: 'Sim' }, { id: 'nao', title: 'Não' }] },
          },
          { id: 'reply', type: 'waitForReply', timeout: '10s', saveAs: 'resposta', branches: [{ button: 'sim', next: 'yes' }, { button: 'nao', next: 'no' }], default: 'no' },
          { id: 'yes', type: 'send', message: { type: 'list', text: 'Escolha a forma', buttonText: 'Ver', sections: [{ title: 'Pagamento', rows: [{ id: 'pix', title: 'Pix' }] }] } },
          { id: 'jump', type: 'goto', target: 'done' },
          { id: 'no', type: 'send', message: { type: 'text', text: 'Tudo bem!' } },
          { id: 'done', type: 'send', message: { type: 'text', text: 'Você respondeu {{resposta}}' } },
          { id: 'stop', type: 'end' },
          { id: 'never', type: 'send', message: { type: 'text', text: 'nunca' } },
        ],
      }),
    );
    const phone = nextPhone();
    await f.click(phone, { id: 'pode_falar_sim', displayText: 'Pode falar sim!', name: 'Ana Souza' });
    await eventually(async () => f.sentTo(phone).length === 3, 15_000, 'three sends before the wait');
    expect(f.evolution.presences.some((p) => p.number === phone && p.presence === 'composing')).toBe(true);
    const [waiting] = await eventually(async () => {
      const rows = await runsOf(phone);
      return rows[0]?.status === 'waiting' ? rows : undefined;
    });
    expect(waiting).toMatchObject({ currentStep: 'reply', waitingFor: 'reply' });
    expect(waiting!.waitingUntil!.getTime()).toBeGreaterThan(Date.now());

    // The reply goes to the waiting run: a tap on "Sim" (an interactive reply).
    await f.click(phone, { id: 'sim', displayText: 'Sim' });
    const [run] = await finishedRuns(phone, 1);
    expect(run!.status).toBe('completed');
    const sent = f.sentTo(phone);
    expect(sent.map((s) => s.kind)).toEqual(['text', 'media', 'buttons', 'list', 'text']);
    expect(sent[0]!.body.text).toBe('Oi Ana Souza!');
    expect(JSON.stringify(sent[2]!.body)).toContain('Quer o anual de Ana Souza?');
    expect(sent[4]!.body.text).toBe('Você respondeu Sim');
    expect(run!.variables).toMatchObject({ plano: 'anual de Ana Souza', resposta: 'Sim' });
    const [contact] = await f.stack.db.db.select().from(contacts).where(eq(contacts.phone, phone));
    expect(contact!.tags).toEqual(['lead']);
  });

  it('takes the default branch for an unknown reply and the onTimeout branch when nobody answers', async () => {
    await createFunnel(
      funnelDef({
        steps: [
          { id: 'ask', type: 'send', message: { type: 'text', text: 'Posso ligar?' } },
          { id: 'reply', type: 'waitForReply', timeout: '1500ms', branches: [{ keyword: 'sim', next: 'yes' }], default: 'other', onTimeout: 'late' },
          { id: 'yes', type: 'send', message: { type: 'text', text: 'Ligando' }, next: 'end' },
          { id: 'other', type: 'send', message: { type: 'text', text: 'Não entendi' }, next: 'end' },
          { id: 'late', type: 'send', message: { type: 'text', text: 'Fica para depois' } },
          { id: 'end', type: 'end' },
        ],
      }),
    );
    const answers = nextPhone();
    const silent = nextPhone();
    await f.click(answers, { displayText: 'Pode falar sim!' });
    await f.click(silent, { displayText: 'Pode falar sim!' });
    await eventually(async () => (await runsOf(answers))[0]?.status === 'waiting');
    await f.say(answers, 'talvez amanhã');
    await finishedRuns(answers, 1);
    await finishedRuns(silent, 1);
    expect(f.sentTo(answers).map((s) => s.body.text)).toEqual(['Posso ligar?', 'Não entendi']);
    expect(f.sentTo(silent).map((s) => s.body.text)).toEqual(['Posso ligar?', 'Fica para depois']);
  });

  it('hands over to a human: the contact is paused, the tenant told, and triggers no longer fire', async () => {
    const adminChannel = await addChannel(f.stack.db.db, { tenantId: f.tenant.tenant.id, provider: 'sandbox', externalId: `handover-${uniqueId()}` });
    await f.stack.db.db
      .update(tenants)
      .set({ settings: { adminContact: { channelId: adminChannel.id, phone: '5511900000001' } } })
      .where(eq(tenants.id, f.tenant.tenant.id));
    await createFunnel(
      funnelDef({
        name: 'Atendimento',
        steps: [
          { id: 'hello', type: 'send', message: { type: 'text', text: 'Vou chamar alguém' } },
          { id: 'human', type: 'handover', note: 'quer negociar' },
        ],
      }),
    );
    const phone = nextPhone();
    await f.click(phone, { displayText: 'Pode falar sim!' });
    const [run] = await finishedRuns(phone, 1);
    expect(run!.status).toBe('completed');
    const [contact] = await f.stack.db.db.select().from(contacts).where(eq(contacts.phone, phone));
    expect(contact!.pausedUntil!.getUTCFullYear()).toBe(9999);
    expect(contact!.pauseReason).toBe('handover: Atendimento');
    const { sandboxOutbox } = await import('../../src/db/schema');
    const notices = await f.stack.db.db.select().from(sandboxOutbox).where(eq(sandboxOutbox.channelId, adminChannel.id));
    expect(JSON.stringify(notices[0]!.message)).toContain('quer negociar');
    await f.click(phone, { displayText: 'Pode falar sim!' });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await runsOf(phone)).toHaveLength(1);
  });

  it('starts one run for a re-delivered click', async () => {
    await createFunnel(funnelDef());
    const phone = nextPhone();
    const id = uniqueId();
    await Promise.all([f.click(phone, { displayText: 'Pode falar sim!', messageId: id }), f.click(phone, { displayText: 'Pode falar sim!', messageId: id })]);
    await f.click(phone, { displayText: 'Pode falar sim!', messageId: id });
    await finishedRuns(phone, 1);
    await new Promise((r) => setTimeout(r, 500));
    expect(await runsOf(phone)).toHaveLength(1);
    expect(f.sentTo(phone)).toHaveLength(1);
  });

  it('applies re-entry: ignore while active, restart cancels the first, parallel runs both; cooldown blocks', async () => {
    const waitingSteps = [
      { id: 'hello', type: 'send', message: { type: 'text', text: 'Oi' } },
      { id: 'wait', type: 'delay', duration: '3s' },
    ];
    const ignore = await createFunnel(funnelDef({ name: 'ignore', trigger: { type: 'keyword', phrase: 'ignore' }, steps: waitingSteps }));
    const restart = await createFunnel(funnelDef({ name: 'restart', reentry: 'restart', trigger: { type: 'keyword', phrase: 'restart' }, steps: waitingSteps }));
    const parallel = await createFunnel(funnelDef({ name: 'parallel', reentry: 'parallel', trigger: { type: 'keyword', phrase: 'parallel' }, steps: waitingSteps }));
    const cooled = await createFunnel(
      funnelDef({ name: 'cooldown', reentry: 'parallel', cooldown: '1h', trigger: { type: 'keyword', phrase: 'cooldown' }, steps: [waitingSteps[0]] }),
    );
    const phone = nextPhone();
    for (const word of ['ignore', 'restart', 'parallel', 'cooldown']) {
      await f.say(phone, word);
      await eventually(async () => (await runsOf(phone)).some((r) => r.triggerMessageId && r.funnelId), 10_000);
    }
    await eventually(async () => (await runsOf(phone)).length === 4, 10_000, 'four first runs');
    for (const word of ['ignore', 'restart', 'parallel', 'cooldown']) await f.say(phone, word);
    await eventually(async () => {
      const rows = await runsOf(phone);
      return rows.filter((r) => r.funnelId === restart.id).some((r) => r.status === 'cancelled') && rows.filter((r) => r.funnelId === parallel.id).length === 2;
    }, 15_000, 'restart and parallel second runs');
    await new Promise((r) => setTimeout(r, 500));
    const rows = await runsOf(phone);
    const by = (id: string) => rows.filter((r) => r.funnelId === id);
    expect(by(ignore.id)).toHaveLength(1);
    expect(by(restart.id)).toHaveLength(2);
    expect(by(restart.id).find((r) => r.status === 'cancelled')!.cancelReason).toBe('restarted by a new trigger');
    expect(by(parallel.id)).toHaveLength(2);
    expect(by(cooled.id)).toHaveLength(1);
  });

  it('fails a run whose send keeps failing: row, admin notification, Failed in Temporal', async () => {
    const adminChannel = await addChannel(f.stack.db.db, { tenantId: f.tenant.tenant.id, provider: 'sandbox', externalId: `admin-${uniqueId()}` });
    await f.stack.db.db
      .update(tenants)
      .set({ settings: { adminContact: { channelId: adminChannel.id, phone: '5511900000000' } } })
      .where(eq(tenants.id, f.tenant.tenant.id));
    await createFunnel(funnelDef({ name: 'Oferta' }));
    const phone = nextPhone();
    const remove = f.evolution.server.respondWith((r) => r.path.includes('/sendText/') && JSON.stringify(r.body).includes(phone), {
      status: 500,
      body: { status: 500, error: 'Internal Server Error', response: { message: ['boom'] } },
    });
    try {
      await f.click(phone, { displayText: 'Pode falar sim!' });
      const [run] = await finishedRuns(phone, 1);
      expect(run!.status).toBe('failed');
      expect(run!.error).toMatchObject({ step: 'hello' });
      expect(run!.error!.message).toMatch(/500|boom/);
      // The row is written just before the workflow fails.
      await eventually(async () => (await f.stack.client.workflow.getHandle(run!.id).describe()).status.name === 'FAILED', 10_000, 'Failed in Temporal');
      const { sandboxOutbox } = await import('../../src/db/schema');
      const notices = await f.stack.db.db.select().from(sandboxOutbox).where(eq(sandboxOutbox.channelId, adminChannel.id));
      expect(notices).toHaveLength(1);
      expect(JSON.stringify(notices[0]!.message)).toContain('Oferta');
    } finally {
      remove();
    }
  });

  it('cancels a waiting run on opt-out and through the API, and says why', async () => {
    await createFunnel(
      funnelDef({
        steps: [
          { id: 'ask', type: 'send', message: { type: 'text', text: 'Posso ajudar?' } },
          { id: 'reply', type: 'waitForReply', timeout: '1h', branches: [] },
          { id: 'after', type: 'send', message: { type: 'text', text: 'nunca' } },
        ],
      }),
    );
    const optsOut = nextPhone();
    const byApi = nextPhone();
    await f.click(optsOut, { displayText: 'Pode falar sim!' });
    await f.click(byApi, { displayText: 'Pode falar sim!' });
    await eventually(async () => (await runsOf(optsOut))[0]?.status === 'waiting' && (await runsOf(byApi))[0]?.status === 'waiting');
    await f.say(optsOut, 'PARE');
    const [runApi] = await runsOf(byApi);
    const cancel = await f.api('POST', `/api/funnel-runs/${encodeURIComponent(runApi!.id)}/cancel`, { reason: 'cliente ligou' });
    expect(cancel.status).toBe(202);
    const [a] = await finishedRuns(optsOut, 1);
    const [b] = await finishedRuns(byApi, 1);
    expect(a).toMatchObject({ status: 'cancelled', cancelReason: 'contact opted out' });
    expect(b).toMatchObject({ status: 'cancelled', cancelReason: 'cliente ligou' });
    expect(f.sentTo(byApi).map((s) => s.body.text)).toEqual(['Posso ajudar?']);
    // Cancelling a finished run is a conflict, not a 500.
    expect((await f.api('POST', `/api/funnel-runs/${encodeURIComponent(runApi!.id)}/cancel`)).status).toBe(409);
  });

  it('keeps runs in flight on the version they started with when the funnel is edited', async () => {
    const funnel = await createFunnel(
      funnelDef({
        steps: [
          { id: 'a', type: 'send', message: { type: 'text', text: 'versão 1: oi' } },
          { id: 'wait', type: 'delay', duration: '1500ms' },
          { id: 'b', type: 'send', message: { type: 'text', text: 'versão 1: tchau' } },
        ],
      }),
    );
    const phone = nextPhone();
    await f.click(phone, { displayText: 'Pode falar sim!' });
    await eventually(async () => f.sentTo(phone).length === 1);
    const updated = await f.api(
      'PUT',
      `/api/funnels/${funnel.id}`,
      funnelDef({ steps: [{ id: 'a', type: 'send', message: { type: 'text', text: 'versão 2' } }, { id: 'b', type: 'send', message: { type: 'text', text: 'versão 2: tchau' } }] }),
    );
    expect(updated.body.version).toBe(2);
    await finishedRuns(phone, 1);
    expect(f.sentTo(phone).map((s) => s.body.text)).toEqual(['versão 1: oi', 'versão 1: tchau']);
    const later = nextPhone();
    await f.click(later, { displayText: 'Pode falar sim!' });
    await finishedRuns(later, 1);
    expect(f.sentTo(later).map((s) => s.body.text)).toEqual(['versão 2', 'versão 2: tchau']);
    expect((await runsOf(later))[0]!.funnelVersion).toBe(2);
  });

  it('resumes after the worker is killed mid-run, sending nothing twice', async () => {
    await createFunnel(
      funnelDef({
        steps: [
          { id: 'a', type: 'send', message: { type: 'text', text: 'primeira' } },
          { id: 'wait', type: 'delay', duration: '2s' },
          { id: 'b', type: 'send', message: { type: 'text', text: 'segunda' } },
        ],
      }),
    );
    const phone = nextPhone();
    await f.click(phone, { displayText: 'Pode falar sim!' });
    await eventually(async () => f.sentTo(phone).length === 1);
    await f.stack.worker!.shutdown();
    await new Promise((r) => setTimeout(r, 2500)); // the timer fires while no worker runs
    await f.stack.startWorker();
    await finishedRuns(phone, 1);
    expect(f.sentTo(phone).map((s) => s.body.text)).toEqual(['primeira', 'segunda']);
  });

  it('serves the funnel API: list, get, validation paths, delete only without active runs, other tenants see nothing', async () => {
    const invalid = await f.api('POST', '/api/funnels', funnelDef({ steps: [{ id: 'a', type: 'send', message: { type: 'text', text: '' }, next: 'zz' }] }));
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.details).toEqual([
      { path: 'steps.0.message.text', message: 'text must not be empty' },
      { path: 'steps.0.next', message: 'points to a missing step "zz"' },
    ]);
    const missing = await f.api('POST', '/api/funnels', funnelDef({ steps: [{ id: 'a', type: 'goto', target: 'zz' }] }));
    expect(missing.body.error.details).toEqual([{ path: 'steps.0.target', message: 'points to a missing step "zz"' }]);

    const funnel = await createFunnel(
      funnelDef({ name: 'Espera', steps: [{ id: 'a', type: 'send', message: { type: 'text', text: 'Oi' } }, { id: 'w', type: 'waitForReply', timeout: '1h', branches: [] }] }),
    );
    expect((await f.api('GET', `/api/funnels/${funnel.id}`)).body).toMatchObject({ id: funnel.id, name: 'Espera', version: 1, active: true });
    const phone = nextPhone();
    await f.click(phone, { displayText: 'Pode falar sim!' });
    await eventually(async () => (await runsOf(phone))[0]?.status === 'waiting');
    expect((await f.api('DELETE', `/api/funnels/${funnel.id}`)).status).toBe(409);
    const runs = await f.api('GET', `/api/funnel-runs?status=waiting&funnelId=${funnel.id}&contact=%2B55%20${phone.slice(2)}&since=1h`);
    expect(runs.body.runs.map((r: { contactKey: string }) => r.contactKey)).toEqual([phone]);
    expect((await f.api('GET', '/api/funnel-runs?since=yesterday')).status).toBe(400);

    // Another tenant: 404 on every route, never a change.
    const { createTenant } = await import('../../src/services/tenants');
    const other = await createTenant(f.stack.db.db, { name: 'Outra' });
    const runId = encodeURIComponent((await runsOf(phone))[0]!.id);
    for (const [method, path] of [
      ['GET', `/api/funnels/${funnel.id}`],
      ['PUT', `/api/funnels/${funnel.id}`],
      ['POST', `/api/funnels/${funnel.id}/deactivate`],
      ['DELETE', `/api/funnels/${funnel.id}`],
      ['GET', `/api/funnel-runs/${runId}`],
      ['POST', `/api/funnel-runs/${runId}/cancel`],
    ] as const) {
      const res = await f.api(method, path, method === 'PUT' ? funnelDef() : undefined, other.apiKey);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 });
    }
    expect((await f.api('GET', '/api/funnels', undefined, other.apiKey)).body.funnels).toEqual([]);
    expect((await f.api('GET', '/api/funnel-runs', undefined, other.apiKey)).body.runs).toEqual([]);
    expect((await f.api('GET', '/api/funnels', undefined, 'zf_not_a_key')).status).toBe(401);

    await f.api('POST', `/api/funnel-runs/${runId}/cancel`);
    await finishedRuns(phone, 1);
    expect((await f.api('DELETE', `/api/funnels/${funnel.id}`)).status).toBe(204);
    expect((await f.api('GET', `/api/funnels/${funnel.id}`)).status).toBe(404);
    const [contactRow] = await f.stack.db.db.select().from(contacts).where(and(eq(contacts.phone, phone)));
    expect(contactRow).toBeDefined();
  });
});
