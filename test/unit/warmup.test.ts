/**
 * The warm-up plan's rules (domain/warmup.ts): the ramp of rounds per day, what the workflow
 * does at a given time (a round, or sleep for the window, the day's quota or the delay), and
 * the pairs of numbers that talk.
 */
import { localDay, nextWarmupStep, roundPair, roundsForDay, warmupText, type WarmupPlan } from '../../src/domain/warmup';

const TZ = 'America/Sao_Paulo';
/** 2026-03-02 (a Monday) at `hhmm` in São Paulo (UTC-3). */
const at = (hhmm: string, day = '2026-03-02') => Date.parse(`${day}T${hhmm}:00-03:00`);

const plan: WarmupPlan = {
  schedule: { windows: [{ start: '09:00', end: '12:00' }, { start: '14:00', end: '18:00' }], days: [1, 2, 3, 4, 5], timezone: TZ },
  ramp: { start: 10, growthPercent: 20, cap: 200 },
  delayMs: 10 * 60_000,
  startDay: '2026-03-02',
};

describe('warm-up rules', () => {
  it('ramps rounds per day from start, growing by the percentage, up to the cap', () => {
    expect([0, 1, 2, 3].map((d) => roundsForDay(plan.ramp, d))).toEqual([10, 12, 14, 17]);
    expect(roundsForDay(plan.ramp, 30)).toBe(200);
    expect(roundsForDay({ start: 5, growthPercent: 0, cap: 9 }, 10)).toBe(5);
  });

  it('runs a round inside a window, with the day number of the ramp', () => {
    expect(nextWarmupStep({ now: at('09:30'), plan })).toEqual({ kind: 'round', day: '2026-03-02', dayNumber: 0, planned: 10 });
    expect(nextWarmupStep({ now: at('10:00', '2026-03-03'), plan })).toMatchObject({ kind: 'round', dayNumber: 1, planned: 12 });
  });

  it('sleeps until the next window, skipping days not allowed', () => {
    expect(nextWarmupStep({ now: at('12:30'), plan })).toEqual({ kind: 'sleep', until: at('14:00'), waitingFor: 'window' });
    // Friday evening → Monday 09:00.
    expect(nextWarmupStep({ now: at('19:00', '2026-03-06'), plan })).toEqual({ kind: 'sleep', until: at('09:00', '2026-03-09'), waitingFor: 'window' });
  });

  it('sleeps until tomorrow’s first window once the day’s rounds are done, and for the delay after a round', () => {
    const now = at('15:00');
    expect(nextWarmupStep({ now, plan, today: { day: '2026-03-02', done: 10 } })).toEqual({ kind: 'sleep', until: at('09:00', '2026-03-03'), waitingFor: 'quota' });
    // Yesterday's count does not hold today back.
    expect(nextWarmupStep({ now, plan, today: { day: '2026-03-01', done: 10 } })).toMatchObject({ kind: 'round' });
    expect(nextWarmupStep({ now, plan, lastRoundAt: now - 60_000 })).toEqual({ kind: 'sleep', until: now + 9 * 60_000, waitingFor: 'delay' });
  });

  it('the local day follows the tenant’s clock', () => {
    expect(localDay(Date.parse('2026-03-03T01:00:00Z'), TZ)).toBe('2026-03-02');
  });

  it('pairs every ordered pair of numbers in turn, the opener alternating with two', () => {
    expect([0, 1, 2, 3].map((r) => roundPair(r, 2))).toEqual([
      { initiator: 0, responder: 1 },
      { initiator: 1, responder: 0 },
      { initiator: 0, responder: 1 },
      { initiator: 1, responder: 0 },
    ]);
    const pairs = new Set(Array.from({ length: 6 }, (_, r) => roundPair(r, 3)).map((p) => `${p.initiator}>${p.responder}`));
    expect([...pairs].sort()).toEqual(['0>1', '0>2', '1>0', '1>2', '2>0', '2>1']);
  });

  it('says a phrase of the list, or talks about a topic', () => {
    expect(warmupText({ phrases: ['a', 'b'], turn: 1, random: () => 0.99 })).toBe('b');
    expect(warmupText({ topics: ['futebol'], turn: 0, random: () => 0 })).toContain('futebol');
  });
});
