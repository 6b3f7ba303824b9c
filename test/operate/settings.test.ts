/**
 * The tenant's own settings through the API: defaults filled in, validated with field paths,
 * `null` back to the default, and the daily quota set here actually holding a send back.
 */
import { eq } from 'drizzle-orm';
import { tenants } from '../../src/db/schema';
import { eventually } from '../support/stack';
import { EVO_INSTANCE, messageRow, startSendingWorld, sentTo, type SendingWorld } from '../sending/support';

describe('tenant settings API', () => {
  let world: SendingWorld;
  const settings = (body?: unknown) => world.api('/settings', body === undefined ? {} : { method: 'PATCH', body });

  beforeAll(async () => {
    world = await startSendingWorld();
  });
  afterAll(() => world.close());

  it('shows the defaults, then what the tenant set; null goes back to the default', async () => {
    const before = await settings();
    expect(before.status).toBe(200);
    expect(before.body.settings).toEqual({
      timezone: 'America/Sao_Paulo',
      adminContact: null,
      optOutKeywords: ['PARE', 'STOP', 'SAIR', 'CANCELAR', 'DESCADASTRAR'],
      optOutConfirmation: expect.stringContaining('Você não receberá mais mensagens'),
      sendLimits: { perDay: 50_000 },
    });

    const changed = await settings({
      timezone: 'America/Manaus',
      adminContact: { instanceName: EVO_INSTANCE, phoneNumber: '(11) 90000-0001' },
      optOutKeywords: ['CHEGA', 'PARE'],
      optOutConfirmation: 'Ok, não enviaremos mais mensagens.',
    });
    expect(changed.status).toBe(200);
    expect(changed.body.settings).toMatchObject({
      timezone: 'America/Manaus',
      adminContact: { instanceName: EVO_INSTANCE, phoneNumber: '5511900000001' },
      optOutKeywords: ['CHEGA', 'PARE'],
      optOutConfirmation: 'Ok, não enviaremos mais mensagens.',
    });
    // Stored where the runtime reads it (funnel handovers and failures notify this contact).
    const [row] = await world.stack.db.db.select().from(tenants).where(eq(tenants.id, world.tenant.tenant.id));
    expect(row!.settings.adminContact).toEqual({ channelId: world.tenant.channel.id, phone: '5511900000001' });
    expect(row!.timezone).toBe('America/Manaus');

    const reset = await settings({ adminContact: null, optOutKeywords: null, optOutConfirmation: null });
    expect(reset.body.settings).toMatchObject({ timezone: 'America/Manaus', adminContact: null, optOutKeywords: before.body.settings.optOutKeywords });
    expect(reset.body.settings.optOutConfirmation).toBe(before.body.settings.optOutConfirmation);
  });

  it('answers 400 naming the field for what cannot be used, and changes nothing', async () => {
    const cases: Array<[unknown, string]> = [
      [{ timezone: 'Brasil/Recife' }, 'timezone'],
      [{ adminContact: { instanceName: 'nao-existe', phoneNumber: '+55 11 90000-0001' } }, 'adminContact.instanceName'],
      [{ adminContact: { instanceName: 'outra-loja', phoneNumber: '+55 11 90000-0001' } }, 'adminContact.instanceName'], // another tenant's
      [{ adminContact: { instanceName: EVO_INSTANCE, phoneNumber: '123' } }, 'adminContact.phoneNumber'],
      [{ optOutKeywords: [] }, 'optOutKeywords'],
      [{ sendLimits: { perDay: -1 } }, 'sendLimits.perDay'],
      [{ colour: 'blue' }, '(body)'],
    ];
    const before = (await settings()).body.settings;
    for (const [body, path] of cases) {
      const res = await settings(body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    }
    expect((await settings()).body.settings).toEqual(before);
  });

  it("holds sends back once the tenant's daily quota set here is used up", async () => {
    expect((await settings({ sendLimits: { perDay: 1 } })).body.settings.sendLimits).toEqual({ perDay: 1 });
    const send = (phoneNumber: string) => world.api('/whatsapp/send-message', { body: { instanceName: EVO_INSTANCE, phoneNumber, message: 'Oi!' } });
    const first = await send('5511977770001');
    await eventually(async () => sentTo(world, '5511977770001').length === 1, 15_000, 'first sent');
    const second = await send('5511977770002');
    await eventually(async () => (await messageRow(world, second.body.messageId))?.error?.reason === 'RateLimited', 15_000, 'second held back');
    expect(sentTo(world, '5511977770002')).toHaveLength(0);
    expect((await messageRow(world, first.body.messageId))?.status).toBe('sent');
    expect((await settings({ sendLimits: null })).body.settings.sendLimits).toEqual({ perDay: 50_000 });
  });
});
