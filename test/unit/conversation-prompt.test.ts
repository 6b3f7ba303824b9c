import { boundHistory, boundKnowledge, buildReplyPrompt, estimateTokens, promptChars, toAiError } from '../../src/services/ai';
import { normaliseSearchText, queryTerms, toPrefixTsQuery } from '../../src/domain/keywords';
import { conversationFlags, conversationSettingsOf } from '../../src/services/conversationSettings';

describe('AI prompt', () => {
  const history = Array.from({ length: 60 }, (_, i) => ({ from: (i % 2 ? 'us' : 'contact') as 'us' | 'contact', text: `mensagem ${i} `.repeat(40), at: new Date(i) }));

  it('keeps the newest history within message and character bounds', () => {
    const bounded = boundHistory(history, { historyMessages: 20, historyChars: 4000 });
    expect(bounded.length).toBeLessThanOrEqual(20);
    expect(bounded.reduce((n, m) => n + m.text.length, 0)).toBeLessThanOrEqual(4000);
    expect(bounded[bounded.length - 1]!.text).toContain('mensagem 59');
  });

  it('bounds knowledge by characters and the whole prompt stays small', () => {
    const knowledge = boundKnowledge(
      Array.from({ length: 5 }, (_, i) => ({ id: String(i), title: `t${i}`, content: 'x'.repeat(2000) })),
      2400,
    );
    expect(knowledge.reduce((n, k) => n + k.content.length, 0)).toBeLessThanOrEqual(2400);
    const prompt = buildReplyPrompt({
      persona: 'p'.repeat(10_000),
      instructions: 'i'.repeat(10_000),
      knowledge,
      history: boundHistory(history, { historyMessages: 20, historyChars: 4000 }),
      turn: ['t'.repeat(10_000)],
      now: new Date(0),
      timezone: 'America/Sao_Paulo',
    });
    // persona 1.5k + instructions 1.5k + knowledge 2.4k + history 4k + turn 2k + fixed text
    expect(promptChars(prompt)).toBeLessThan(12_500);
    expect(estimateTokens(prompt)).toBeLessThan(3_300);
  });

  it('translates SDK errors by status', () => {
    expect(toAiError({ status: 429, headers: new Headers({ 'retry-after-ms': '1500' }), message: 'slow down' })).toMatchObject({ kind: 'rate_limited', details: { retryAfterMs: 1500 } });
    expect(toAiError({ status: 429, code: 'insufficient_quota', message: 'quota' }).kind).toBe('quota');
    expect(toAiError({ status: 500, message: 'boom' }).retryable).toBe(true);
    expect(toAiError({ status: 401, message: 'key' }).retryable).toBe(false);
    expect(toAiError(new Error('socket hang up')).kind).toBe('retryable');
  });
});

describe('knowledge terms', () => {
  it('drops accents, stop words and cuts terms to prefixes', () => {
    expect(normaliseSearchText('Preço à VISTA!')).toBe('preco a vista');
    expect(queryTerms('Qual o preço da entrega para Curitiba?')).toEqual(['curiti', 'entreg', 'preco']);
    expect(toPrefixTsQuery(['preco', "x'y"])).toBe('preco:* | xy:*');
    expect(toPrefixTsQuery([])).toBeUndefined();
  });
});

describe('conversation settings', () => {
  it('defaults everything off and keeps valid fields of a bad value', () => {
    expect(conversationFlags({})).toBeUndefined();
    expect(conversationFlags({ ai: { replies: true, debounce: '300ms' } })).toEqual({ aiReplies: true, followUps: false, analysis: false, mediaToText: false, debounceMs: 300 });
    const s = conversationSettingsOf({ followUp: { enabled: true, quietPeriod: 'soon', max: 3 } });
    expect(s.followUp).toMatchObject({ enabled: true, max: 3 });
    expect(s.followUp.quietPeriod).toBeUndefined();
  });
});
