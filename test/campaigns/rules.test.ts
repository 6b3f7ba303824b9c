/**
 * The campaign's pure rules: windows that wrap midnight and days in São Paulo, the minute
 * quota's even grid, per-recipient rendering, the campaign clock, and how a phone list splits.
 */
import { campaignClockSkew, nextChannelSend, nextSendingTime, renderForRecipient, sendingAllowed, type CampaignSchedule } from '../../src/domain/campaign';
import { splitPhones } from '../../src/services/campaigns';

const at = (iso: string) => Date.parse(iso);

describe('campaign rules', () => {
  it('sends only inside windows (one wrapping midnight) on allowed days, in the tenant timezone', () => {
    // 22:00-02:00 in São Paulo (UTC-3), Monday to Friday (the day of the send itself).
    const schedule: CampaignSchedule = { windows: [{ start: '22:00', end: '02:00' }], days: [1, 2, 3, 4, 5], timezone: 'America/Sao_Paulo' };
    expect(sendingAllowed(at('2026-12-08T01:30:00Z'), schedule)).toBe(true); // Mon 22:30 local
    expect(sendingAllowed(at('2026-12-08T04:30:00Z'), schedule)).toBe(true); // Tue 01:30 local, past midnight
    expect(sendingAllowed(at('2026-12-08T05:00:00Z'), schedule)).toBe(false); // Tue 02:00: closed
    expect(nextSendingTime(at('2026-12-08T05:00:00Z'), schedule)).toBe(at('2026-12-09T01:00:00Z')); // Tue 22:00 local
    // Friday 23:00 is allowed; Saturday 00:30 is not (Saturday is not a sending day): Monday 00:00.
    expect(sendingAllowed(at('2026-12-12T02:00:00Z'), schedule)).toBe(true);
    expect(nextSendingTime(at('2026-12-12T03:30:00Z'), schedule)).toBe(at('2026-12-14T03:00:00Z'));
    expect(sendingAllowed(at('2026-12-12T15:00:00Z'), { windows: [], timezone: 'America/Sao_Paulo' })).toBe(true);
  });

  it('spreads the minute quota on a grid, so a late send is followed sooner', () => {
    const quotas = { perChannelPerMinute: 600 };
    const pacing = { minGapMs: 0, jitterMs: 0 };
    const step = (grid: number, now: number) => nextChannelSend({ grid, now, random: 0, minuteMs: 60_000 }, quotas, pacing);
    expect(step(1_000, 1_000)).toEqual({ grid: 1_100, nextAt: 1_100 });
    expect(step(1_100, 1_103)).toEqual({ grid: 1_200, nextAt: 1_200 }); // 3 ms late: not carried on
    expect(step(1_200, 5_000)).toEqual({ grid: 5_100, nextAt: 5_100 }); // after a wait: from now
    // Pacing counts from the send; no minute quota: pacing alone.
    expect(nextChannelSend({ grid: 0, now: 1_000, random: 0.5, minuteMs: 60_000 }, quotas, { minGapMs: 2_000, jitterMs: 1_000 }).nextAt).toBe(3_500);
    expect(nextChannelSend({ grid: 0, now: 1_000, random: 0, minuteMs: 60_000 }, {}, pacing).nextAt).toBe(1_000);
  });

  it('renders every text of a message for one recipient, never names', () => {
    const values = { name: 'Ana', phone: '5511999990001', plano: 'anual' };
    expect(renderForRecipient({ type: 'template', name: 'promo_{{name}}', language: 'pt_BR', variables: ['{{name}}', '{{plano}}'] }, values)).toEqual({
      type: 'template',
      name: 'promo_{{name}}',
      language: 'pt_BR',
      variables: ['Ana', 'anual'],
    });
    expect(renderForRecipient({ type: 'buttons', text: 'Oi {{name}}', buttons: [{ id: 'sim', title: 'Sim, {{name}}' }] }, values)).toEqual({
      type: 'buttons',
      text: 'Oi Ana',
      buttons: [{ id: 'sim', title: 'Sim, Ana' }],
    });
  });

  it('follows the Temporal server clock only when it is far ahead', () => {
    expect(campaignClockSkew(10_000, 10_050, 60_000)).toBe(0); // the activity started after the workflow task
    expect(campaignClockSkew(10_000 + 3_600_000, 10_000, 60_000)).toBe(3_600_000); // a time-skipping server
  });

  it('splits a phone list into distinct phones, invalid entries and duplicates', () => {
    expect(splitPhones(['(11) 98888-0001', '+55 11 98888 0001', '5511988880002', 'não sei', 'não sei'])).toEqual({
      phones: ['5511988880001', '5511988880002'],
      invalid: ['não sei'],
      duplicates: 2,
    });
  });
});
