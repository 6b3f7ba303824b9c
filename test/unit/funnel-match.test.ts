import { branchMatches, matchesPhrase, selectFunnel } from '../../src/domain/funnelMatch';
import type { FunnelTriggerSpec } from '../../src/domain/funnelTypes';
import { renderTemplate } from '../../src/domain/template';
import { nextTimeOfDay } from '../../src/domain/timeOfDay';

const spec = (overrides: Partial<FunnelTriggerSpec>): FunnelTriggerSpec => ({
  funnelId: 'f',
  name: 'f',
  version: 1,
  priority: 0,
  createdAt: 0,
  trigger: { type: 'keyword', phrase: 'quero comprar', match: 'equals' },
  reentry: 'ignore',
  ...overrides,
});

describe('trigger matching', () => {
  it('ignores case, accents and repeated or surrounding spaces in every mode', () => {
    expect(matchesPhrase('  PODE   falar SIM! ', 'Pode falar sim!', 'equals')).toBe(true);
    expect(matchesPhrase('Olá, quero PREÇO do plano', 'preco', 'contains')).toBe(true);
    expect(matchesPhrase('Quero  comprar agora', 'quero comprar', 'startsWith')).toBe(true);
    expect(matchesPhrase('agora quero comprar', 'quero comprar', 'startsWith')).toBe(false);
    expect(matchesPhrase('Pedido #1042', 'pedido #\\d+', 'regex')).toBe(true);
    expect(matchesPhrase('quero comprar já', 'quero comprar', 'equals')).toBe(false);
    expect(matchesPhrase(undefined, 'x', 'equals')).toBe(false);
    expect(matchesPhrase('x', '(', 'regex')).toBe(false); // never throws inside a workflow
  });

  it('matches a button on its payload/id first, then its display text', () => {
    const button = spec({ trigger: { type: 'button', phrase: 'Pode falar sim!', match: 'equals' } });
    expect(selectFunnel([button], { type: 'template_button_reply', button: { id: 'pode_falar_sim', text: 'Pode falar sim!' } })).toBe(button);
    const byId = spec({ trigger: { type: 'button', phrase: 'pode_falar_sim', match: 'equals' } });
    expect(selectFunnel([byId], { type: 'interactive_reply', button: { id: 'pode_falar_sim', text: 'Sim' } })).toBe(byId);
    // A button trigger is not fired by typed text.
    expect(selectFunnel([button], { type: 'text', text: 'Pode falar sim!' })).toBeUndefined();
    // A keyword trigger is fired by a tapped label too.
    const keyword = spec({});
    expect(selectFunnel([keyword], { type: 'list_reply', button: { id: 'x', text: 'Quero comprar' } })).toBe(keyword);
  });

  it('picks the highest priority, then the oldest', () => {
    const old = spec({ funnelId: 'old', createdAt: 1 });
    const young = spec({ funnelId: 'young', createdAt: 2 });
    const urgent = spec({ funnelId: 'urgent', createdAt: 3, priority: 5 });
    expect(selectFunnel([young, old], { type: 'text', text: 'quero comprar' })!.funnelId).toBe('old');
    expect(selectFunnel([young, old, urgent], { type: 'text', text: 'Quero Comprar' })!.funnelId).toBe('urgent');
    expect(selectFunnel([old], { type: 'text', text: 'oi' })).toBeUndefined();
  });

  it('restricts a funnel to its channel when it names one', () => {
    const onlyA = spec({ channelId: 'A' });
    expect(selectFunnel([onlyA], { type: 'text', text: 'quero comprar', channelId: 'B' })).toBeUndefined();
    expect(selectFunnel([onlyA], { type: 'text', text: 'quero comprar', channelId: 'A' })).toBe(onlyA);
  });

  it('matches reply branches by button id, label, typed label or keyword', () => {
    expect(branchMatches({ button: 'sim' }, { type: 'interactive_reply', button: { id: 'sim', text: 'Sim!' } })).toBe(true);
    expect(branchMatches({ button: 'Sim!' }, { type: 'interactive_reply', button: { id: 'x', text: 'sim!' } })).toBe(true);
    expect(branchMatches({ button: 'sim' }, { type: 'text', text: 'Sim' })).toBe(true);
    expect(branchMatches({ keyword: 'preço', match: 'contains' }, { type: 'text', text: 'qual o PRECO?' })).toBe(true);
    expect(branchMatches({ keyword: 'não' }, { type: 'text', text: 'sim' })).toBe(false);
  });
});

describe('templates and times of day', () => {
  it('renders {{name}}, {{phone}} and variables; unknown names render empty', () => {
    expect(renderTemplate('Oi {{name}}, {{ plano }}! {{nada}}', { name: 'Ana', plano: 'anual' })).toBe('Oi Ana, anual! ');
  });

  it('finds the next wall-clock time in the tenant timezone', () => {
    // 2026-03-10 14:00 UTC = 11:00 in São Paulo (UTC-3).
    const now = Date.UTC(2026, 2, 10, 14, 0);
    expect(new Date(nextTimeOfDay(now, '09:00', 'America/Sao_Paulo')).toISOString()).toBe('2026-03-11T12:00:00.000Z');
    expect(new Date(nextTimeOfDay(now, '18:30', 'America/Sao_Paulo')).toISOString()).toBe('2026-03-10T21:30:00.000Z');
    // Across a DST change (New York springs forward on 2026-03-08).
    expect(new Date(nextTimeOfDay(Date.UTC(2026, 2, 7, 20, 0), '09:00', 'America/New_York')).toISOString()).toBe('2026-03-08T13:00:00.000Z');
  });
});
