import { loadConfig } from '../../src/config';
import { zonedWindowStart } from '../../src/domain/timeOfDay';
import { quotaDeferral, quotaWindows, sendPolicy } from '../../src/services/quotas';

const config = loadConfig({ SEND_TENANT_PER_DAY: '100', SEND_CHANNEL_PER_HOUR: '10', SEND_CHANNEL_PER_MINUTE: '0', SEND_CHANNEL_PER_DAY: '0' });

describe('quota windows in the tenant timezone', () => {
  it('starts a day at local midnight and an hour at the local hour', () => {
    const at = Date.parse('2026-12-07T23:30:00-03:00'); // 02:30 UTC the next day
    expect(new Date(zonedWindowStart(at, 86_400_000, 'America/Sao_Paulo')).toISOString()).toBe('2026-12-07T03:00:00.000Z');
    expect(new Date(zonedWindowStart(at, 3_600_000, 'America/Sao_Paulo')).toISOString()).toBe('2026-12-08T02:00:00.000Z');
    // A half-hour zone's hours start at :30 UTC.
    expect(new Date(zonedWindowStart(Date.parse('2026-12-07T10:45:00Z'), 3_600_000, 'Asia/Kolkata')).toISOString()).toBe('2026-12-07T10:30:00.000Z');
    expect(new Date(zonedWindowStart(at, 86_400_000, 'UTC')).toISOString()).toBe('2026-12-08T00:00:00.000Z');
  });

  it("holds a São Paulo tenant's daily quota until its own midnight, not UTC's (21:00 there)", () => {
    const at = Date.parse('2026-12-07T20:00:00-03:00'); // 23:00 UTC
    const windows = quotaWindows(sendPolicy(config), { tenantId: 't', channelId: 'c', at, timeZone: 'America/Sao_Paulo' });
    const tenantDay = windows.find((w) => w.scope === 'tenant:t:day')!;
    expect(tenantDay.windowStart.toISOString()).toBe('2026-12-07T03:00:00.000Z');
    const deferred = quotaDeferral(windows, windows.map((w) => (w.scope === 'tenant:t:day' ? 101 : 1)), at)!;
    expect(new Date(at + deferred.details.retryAfterMs).toISOString()).toBe('2026-12-08T03:00:00.000Z'); // 00:00 in São Paulo
  });
});
