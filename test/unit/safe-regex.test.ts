/**
 * Tenant regexes (issue 20, ReDoS): a linear-time engine, patterns compiled when the funnel
 * is saved (triggers and reply branches) with the path of the bad one, at most 512
 * characters, and only the first 4,096 characters of a text looked at.
 *
 * No duration is asserted: a catastrophic pattern on a backtracking engine would not finish
 * at all (the test would hang past jest's timeout); here it completes, with the right answer.
 */
import { funnelSchema } from '../../src/domain/funnel';
import { branchMatches, matchesPhrase, selectFunnel } from '../../src/domain/funnelMatch';
import type { FunnelTriggerSpec } from '../../src/domain/funnelTypes';
import { CUT_MARK, MAX_MATCH_INPUT, MAX_PATTERN_LENGTH, compileSafeRegex, matchInput, regexProblem, safeRegexTest } from '../../src/domain/safeRegex';

function issues(input: unknown): Array<{ path: string; message: string }> {
  const result = funnelSchema.safeParse(input);
  if (result.success) return [];
  return result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

const funnel = (overrides: Record<string, unknown> = {}) => ({
  name: 'Regex',
  trigger: { type: 'keyword', phrase: 'pedido #\\d+', match: 'regex' },
  steps: [{ id: 'a', type: 'send', message: { type: 'text', text: 'Oi' } }],
  ...overrides,
});

/** A funnel whose step 3 waits for a reply with `branches`. */
const withBranches = (branches: unknown[]) =>
  funnel({
    steps: [
      { id: 's0', type: 'send', message: { type: 'text', text: 'Oi' } },
      { id: 's1', type: 'tag', tags: ['x'] },
      { id: 's2', type: 'send', message: { type: 'text', text: 'Quer?' } },
      { id: 'ask', type: 'waitForReply', timeout: '1d', branches },
      { id: 'end', type: 'end' },
    ],
  });

const spec = (phrase: string): FunnelTriggerSpec => ({
  funnelId: 'f',
  name: 'f',
  version: 1,
  priority: 0,
  createdAt: 0,
  trigger: { type: 'keyword', phrase, match: 'regex' },
  reentry: 'ignore',
});

describe('tenant regexes run in linear time', () => {
  it('answers (a+)+$ against 5,000 "a"s and a "!" with false', () => {
    const text = `${'a'.repeat(5_000)}!`;
    expect(matchesPhrase(text, '(a+)+$', 'regex')).toBe(false);
    expect(safeRegexTest('(a+)+$', text)).toBe(false);
    // The same pattern still matches what it should.
    expect(matchesPhrase('aaaa', '(a+)+$', 'regex')).toBe(true);
  });

  it('runs other catastrophic shapes over a whole 65,536-character message', () => {
    const long = 'x'.repeat(65_536);
    expect(matchesPhrase(long, '(x+x+)+y', 'regex')).toBe(false);
    expect(matchesPhrase(long, '(.*a){20}', 'regex')).toBe(false);
    expect(matchesPhrase(`${'ab'.repeat(20_000)}`, '^(a|ab|b)*c$', 'regex')).toBe(false);
    expect(selectFunnel([spec('(x+x+)+y'), spec('^x{10}')], { type: 'text', text: long })?.trigger.phrase).toBe('^x{10}');
  });

  it('looks at the first 4,096 characters only, and $ does not match where the text was cut', () => {
    expect(MAX_MATCH_INPUT).toBe(4_096);
    const head = 'quero comprar ';
    const long = `${head}${'.'.repeat(MAX_MATCH_INPUT)} cupom10`;
    expect(matchesPhrase(long, 'quero comprar', 'regex')).toBe(true);
    expect(matchesPhrase(long, 'cupom\\d+', 'regex')).toBe(false); // beyond the first 4,096 characters
    expect(matchesPhrase(long, 'cupom10', 'contains')).toBe(false);
    expect(matchInput(long)).toHaveLength(MAX_MATCH_INPUT + 1);
    expect(matchInput(long).endsWith(CUT_MARK)).toBe(true);
    expect(matchInput('curto')).toBe('curto');
    // A surrogate pair across the cut is not split.
    const emoji = `${'a'.repeat(MAX_MATCH_INPUT - 1)}😀 e mais`;
    expect(matchInput(emoji)).toBe(`${'a'.repeat(MAX_MATCH_INPUT - 1)}${CUT_MARK}`);
  });

  it('keeps the matching rules: case, accents and spaces ignored; JavaScript syntax accepted', () => {
    expect(matchesPhrase('Pedido #1042', 'pedido #\\d+', 'regex')).toBe(true);
    expect(matchesPhrase('Quero o PREÇO', 'pre[cç]o', 'regex')).toBe(true);
    expect(matchesPhrase('Quero   comprar', '^quero comprar$', 'regex')).toBe(true);
    expect(matchesPhrase('CEP 01310-100', '(?<cep>\\d{5}-\\d{3})', 'regex')).toBe(true);
    expect(matchesPhrase('café', '\\u00e9', 'regex')).toBe(true);
    expect(matchesPhrase('x', '(', 'regex')).toBe(false); // never throws inside a workflow
    expect(branchMatches({ keyword: 'sim|claro', match: 'regex' }, { type: 'text', text: 'Claro!' })).toBe(true);
  });

  it('compiles once and refuses what RE2 cannot run in linear time', () => {
    expect(compileSafeRegex('a+').ok).toBe(true);
    expect(regexProblem('a(?=b)')).toMatch(/^invalid regular expression/);
    expect(regexProblem('(a)\\1')).toMatch(/^invalid regular expression/);
    expect(regexProblem('a'.repeat(MAX_PATTERN_LENGTH))).toBeUndefined();
    expect(regexProblem('a'.repeat(MAX_PATTERN_LENGTH + 1))).toBe('pattern is 513 characters, above the 512 limit');
  });
});

describe('regexes compiled when the funnel is saved', () => {
  it('refuses an invalid trigger pattern, naming trigger.phrase', () => {
    expect(issues(funnel({ trigger: { type: 'keyword', phrase: 'a(?!b)', match: 'regex' } }))).toEqual([
      { path: 'trigger.phrase', message: expect.stringMatching(/^invalid regular expression/) },
    ]);
  });

  it('refuses an invalid reply-branch pattern, naming steps.3.branches.1.keyword', () => {
    const branches = [
      { keyword: 'sim|claro', match: 'regex', next: 'end' },
      { keyword: '(quero', match: 'regex', next: 'end' },
    ];
    expect(issues(withBranches(branches))).toEqual([
      { path: 'steps.3.branches.1.keyword', message: expect.stringMatching(/^invalid regular expression/) },
    ]);
  });

  it('refuses a reply-branch button pattern RE2 cannot run (backreference), naming its path', () => {
    expect(issues(withBranches([{ button: '(s)\\1', match: 'regex', next: 'end' }]))[0]!.path).toBe('steps.3.branches.0.button');
  });

  it('refuses a pattern over 512 characters, naming its path', () => {
    const long = `(${'a|'.repeat(300)}b)`;
    expect(long.length).toBeGreaterThan(512);
    expect(issues(withBranches([{ keyword: long, match: 'regex', next: 'end' }]))).toEqual([
      { path: 'steps.3.branches.0.keyword', message: `pattern is ${long.length} characters, above the 512 limit` },
    ]);
  });

  it('accepts valid patterns and leaves non-regex branches alone', () => {
    expect(issues(withBranches([{ keyword: '^(sim|claro)!?$', match: 'regex', next: 'end' }, { keyword: '(não', next: 'end' }]))).toEqual([]);
  });
});
