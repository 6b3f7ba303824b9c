import { ConfigError, loadConfig } from '../../src/config';
import { rescheduleBodySchema, scheduledForSchema, sendMessageBodySchema } from '../../src/api/sending';
import { META_WINDOW_MS, refusalFor } from '../../src/services/delivery';
import { sendPolicy } from '../../src/services/quotas';
import { scheduleTimeProblem } from '../../src/services/sending';

describe('sending settings', () => {
  it('has defaults and parses overrides, naming a bad variable', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ SEND_CHANNEL_PER_MINUTE: 120, SEND_QUOTA_MINUTE_WINDOW: 60_000, SCHEDULE_PREFIRE: 3_000, SCHEDULE_MAX_AHEAD: 90 * 86_400_000 });
    expect(loadConfig({ SEND_QUOTA_MINUTE_WINDOW: '3s', SEND_CHANNEL_PER_MINUTE: '0', SEND_PACING_MIN_GAP: '0' })).toMatchObject({
      SEND_QUOTA_MINUTE_WINDOW: 3_000,
      SEND_CHANNEL_PER_MINUTE: 0,
      SEND_PACING_MIN_GAP: 0,
    });
    expect(() => loadConfig({ SEND_CHANNEL_PER_MINUTE: '-1' })).toThrow(ConfigError);
    expect(() => loadConfig({ SCHEDULE_MAX_AHEAD: 'soon' })).toThrow(/SCHEDULE_MAX_AHEAD/);
  });

  it('lets channel and tenant settings override the configured limits', () => {
    const config = loadConfig({});
    const policy = sendPolicy(config, { channel: { perMinute: 5, minGapMs: 0, jitterMs: 0 }, tenant: { perDay: 10, perMinute: 999 } });
    expect(policy.channel).toEqual({ perMinute: 5, perHour: config.SEND_CHANNEL_PER_HOUR, perDay: config.SEND_CHANNEL_PER_DAY });
    expect(policy.tenantPerDay).toBe(10);
    expect(policy.pacing).toMatchObject({ minGapMs: 0, jitterMs: 0 });
    // Nonsense in settings falls back to configuration.
    expect(sendPolicy(config, { channel: { perMinute: -3 }, tenant: 'x' }).channel.perMinute).toBe(config.SEND_CHANNEL_PER_MINUTE);
  });
});

describe('refusals before any provider call', () => {
  const now = Date.parse('2026-03-10T12:00:00Z');
  const text = { type: 'text' as const, text: 'oi' };
  it('applies the Meta 24-hour window to free-form messages only', () => {
    const at = (ms: number) => ({ optedOutAt: null, lastInboundAt: new Date(now - ms) });
    expect(refusalFor({ provider: 'meta', message: text, now }, at(META_WINDOW_MS - 1000))).toBeUndefined();
    expect(refusalFor({ provider: 'meta', message: text, now }, at(META_WINDOW_MS + 1000))).toMatchObject({ reason: 'WindowClosed' });
    expect(refusalFor({ provider: 'meta', message: text, now }, undefined)).toMatchObject({ reason: 'WindowClosed' });
    expect(refusalFor({ provider: 'meta', message: { type: 'template', name: 't', language: 'pt_BR' }, now }, undefined)).toBeUndefined();
    expect(refusalFor({ provider: 'evolution', message: text, now }, undefined)).toBeUndefined();
  });
  it('refuses opted-out contacts unless the send is the opt-out confirmation', () => {
    const out = { optedOutAt: new Date(now), lastInboundAt: new Date(now) };
    expect(refusalFor({ provider: 'evolution', message: text, now }, out)).toMatchObject({ reason: 'OptedOut' });
    expect(refusalFor({ provider: 'evolution', message: text, now, allowOptedOut: true }, out)).toBeUndefined();
  });
});

describe('request schemas', () => {
  it('reads ISO 8601 times with an offset only', () => {
    const iso = '2030-03-10T14:30:00.000Z';
    for (const value of ['2030-03-10T11:30:00-03:00', '2030-03-10T11:30:00-0300', '2030-03-10T14:30:00Z', '2030-03-10T14:30Z', '2030-03-10T16:30:00.000+02:00']) {
      expect(new Date(scheduledForSchema.parse(value)).toISOString()).toBe(iso);
    }
    for (const value of ['2030-03-10T14:30:00', '2030-03-10', '10/03/2030 14:30', '2030-02-30T10:00:00Z', '']) {
      expect(scheduledForSchema.safeParse(value).success).toBe(false);
    }
    expect(rescheduleBodySchema.safeParse({}).success).toBe(false);
  });

  it('maps a request to the message the providers send', () => {
    const base = { instanceName: 'loja', phoneNumber: '+55 (31) 8888-7777' };
    expect(sendMessageBodySchema.parse({ ...base, message: 'oi' })).toEqual({ instanceName: 'loja', phoneNumber: '5531988887777', message: { type: 'text', text: 'oi' } });
    expect(sendMessageBodySchema.parse({ ...base, message: 'Escolha', footer: 'Loja', buttons: [{ title: 'Sim' }, { id: 'nao', title: 'Não' }] }).message).toEqual({
      type: 'buttons',
      text: 'Escolha',
      footer: 'Loja',
      buttons: [
        { id: 'btn_1', title: 'Sim' },
        { id: 'nao', title: 'Não' },
      ],
    });
    expect(sendMessageBodySchema.parse({ ...base, template: { name: 'retomada', variables: ['Ana'] } }).message).toEqual({
      type: 'template',
      name: 'retomada',
      language: 'pt_BR',
      variables: ['Ana'],
    });
    expect(sendMessageBodySchema.parse({ ...base, message: 'Boleto', media: { type: 'document', url: 'https://e.com/b.pdf' } }).message).toEqual({
      type: 'media',
      mediaType: 'document',
      url: 'https://e.com/b.pdf',
      caption: 'Boleto',
    });
    const tooMany = sendMessageBodySchema.safeParse({ ...base, message: 'x', list: { buttonText: 'Ver', sections: [{ title: 'A', rows: Array.from({ length: 11 }, (_, i) => ({ id: `r${i}`, title: `R${i}` })) }] } });
    expect(tooMany.success).toBe(false);
    expect(tooMany.error!.issues[0]!.path).toEqual(['list', 'sections']);
  });

  it('states the schedule time rules', () => {
    const now = Date.parse('2026-03-10T12:00:00Z');
    expect(scheduleTimeProblem(now, now, 90 * 86_400_000)).toMatch(/future/);
    expect(scheduleTimeProblem(now + 1, now, 90 * 86_400_000)).toBeUndefined();
    expect(scheduleTimeProblem(now + 90 * 86_400_000, now, 90 * 86_400_000)).toBeUndefined();
    expect(scheduleTimeProblem(now + 90 * 86_400_000 + 1, now, 90 * 86_400_000)).toMatch(/90 days/);
  });
});
