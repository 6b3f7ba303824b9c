import { DEFAULT_LOOP_GUARD, observeInbound, observeTrigger, type LoopGuardState } from '../../src/domain/loopGuard';

const policy = DEFAULT_LOOP_GUARD;

/** Plays a conversation: each entry is an inbound `gapMs` after our last send, then we answer. */
function play(messages: Array<{ gapMs: number; text: string; kind?: 'text' | 'button' }>, start = 1_700_000_000_000) {
  let state: LoopGuardState = { events: [] };
  let now = start;
  let lastOut: number | undefined = start;
  const verdicts: Array<string | undefined> = [];
  for (const m of messages) {
    now = (lastOut ?? now) + m.gapMs;
    const r = observeInbound(state, { at: now, kind: m.kind ?? 'text', text: m.text, lastOutboundAt: lastOut, lastOutboundText: 'Nossa resposta anterior' }, policy);
    state = r.state;
    verdicts.push(r.verdict.trip);
    lastOut = now + 4_000; // we answer 4 s later
  }
  return verdicts;
}

describe('loop guard', () => {
  it('trips on the 4th quick answer: two bots stop within 5 exchanges', () => {
    const bot = Array.from({ length: 6 }, (_, i) => ({ gapMs: 6_000, text: `Resposta automática número ${i} sobre planos e preços` }));
    const verdicts = play(bot);
    const firstTrip = verdicts.findIndex(Boolean);
    expect(firstTrip).toBe(3);
    expect(verdicts[3]).toMatch(/faster than a person types/);
  });

  it('counts long texts typed faster than a person can, even after the fast window', () => {
    const long = 'Olá! Temos planos mensais e anuais, com entrega em todo o Brasil e suporte por WhatsApp em horário comercial.';
    const verdicts = play(Array.from({ length: 4 }, () => ({ gapMs: 12_000, text: long + Math.random() })));
    expect(verdicts[3]).toBeDefined();
  });

  it('trips on the same text repeated', () => {
    const verdicts = play(Array.from({ length: 3 }, () => ({ gapMs: 60_000, text: 'Obrigado pelo contato! Em breve retornaremos.' })));
    expect(verdicts).toEqual([undefined, undefined, expect.stringMatching(/same text arrived 3 times/)]);
  });

  it('leaves a person alone: slow answers, short quick ones, button taps', () => {
    const person = [
      { gapMs: 25_000, text: 'Oi, quanto custa o plano anual?' },
      { gapMs: 5_000, text: 'sim' },
      { gapMs: 40_000, text: 'E vocês entregam em Curitiba?' },
      { gapMs: 2_000, text: 'Sim', kind: 'button' as const },
      { gapMs: 3_000, text: 'Pix', kind: 'button' as const },
      { gapMs: 30_000, text: 'ok, vou pensar' },
      { gapMs: 6_000, text: 'obrigado' },
      { gapMs: 90_000, text: 'sim' },
      { gapMs: 90_000, text: 'sim' },
    ];
    expect(play(person).filter(Boolean)).toEqual([]);
  });

  it('forgets what left the window and resets after tripping', () => {
    const bot = Array.from({ length: 3 }, (_, i) => ({ gapMs: 2_000, text: `msg ${i}` }));
    // Three quick ones, a long pause (out of the window), three more: never more than 3 in the window.
    const verdicts = [...play(bot), ...play(bot, 1_700_000_000_000 + 10 * 60_000)];
    expect(verdicts.filter(Boolean)).toEqual([]);
  });

  it('treats a mirrored copy of our last message as bot-like', () => {
    const r = observeInbound({ events: [] }, { at: 10_000_000, kind: 'text', text: 'nossa resposta ANTERIOR!', lastOutboundAt: 1, lastOutboundText: 'Nossa resposta anterior' }, policy);
    expect(r.verdict.botLike).toBe(true);
  });
});

describe('loop guard on funnel triggers (no AI)', () => {
  const policy = DEFAULT_LOOP_GUARD;
  /** Messages 2 s after our answer each; returns the exchange at which the guard tripped (1-based), if any. */
  const play = (triggers: string[]): number | undefined => {
    let state: LoopGuardState = { events: [] };
    let at = 1_700_000_000_000;
    for (const [i, trigger] of triggers.entries()) {
      const lastOutboundAt = i === 0 ? undefined : at - 2_000;
      const r = observeTrigger(state, { at, trigger, lastOutboundAt }, policy);
      state = r.state;
      if (r.verdict.trip) return i + 1;
      at += 3_000;
    }
    return undefined;
  };

  it('trips on a peer bot firing the same keyword funnel again and again, within 5 exchanges', () => {
    expect(play(Array.from({ length: 20 }, () => 'funnel-oi'))).toBe(5);
  });

  it('lets a person type several different keywords in a row, each twice', () => {
    expect(play(['ignore', 'restart', 'parallel', 'cooldown', 'ignore', 'restart', 'parallel', 'cooldown'])).toBeUndefined();
  });

  it('does not count a repeat that came long after our answer', () => {
    let state: LoopGuardState = { events: [] };
    let tripped = false;
    for (let i = 0; i < 10; i++) {
      const at = 1_700_000_000_000 + i * 20_000;
      const r = observeTrigger(state, { at, trigger: 'funnel-oi', lastOutboundAt: at - 15_000 }, policy);
      state = r.state;
      tripped ||= Boolean(r.verdict.trip);
    }
    expect(tripped).toBe(false);
  });
});
