import { funnelSchema } from '../../src/domain/funnel';

function issues(input: unknown): Array<{ path: string; message: string }> {
  const result = funnelSchema.safeParse(input);
  if (result.success) return [];
  return result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

const base = {
  name: 'Pode falar sim',
  trigger: { type: 'button', phrase: 'Pode falar sim!' },
  steps: [{ id: 'a', type: 'send', message: { type: 'text', text: 'Oi' } }],
};

describe('funnel definition schema', () => {
  it('fills defaults and stores durations in ms', () => {
    const def = funnelSchema.parse({
      ...base,
      cooldown: '1h',
      steps: [
        { id: 'a', type: 'send', message: { type: 'text', text: 'Oi' } },
        { id: 'b', type: 'delay', duration: '2d' },
        { id: 'c', type: 'delay', until: '09:00' },
        { id: 'd', type: 'waitForReply', timeout: '1d', branches: [{ button: 'sim', next: 'a' }] },
        { id: 'e', type: 'typing', duration: '3s' },
      ],
    });
    expect(def).toMatchObject({ active: true, priority: 0, reentry: 'ignore', cooldownMs: 3_600_000, trigger: { match: 'equals' } });
    expect(def.steps[1]).toMatchObject({ durationMs: 172_800_000 });
    expect(def.steps[2]).toMatchObject({ untilTime: '09:00' });
    expect(def.steps[3]).toMatchObject({ timeoutMs: 86_400_000 });
    expect(def.steps[4]).toMatchObject({ durationMs: 3000 });
  });

  it('rejects a step that points to a missing step, with its path', () => {
    expect(issues({ ...base, steps: [{ id: 'a', type: 'send', message: { type: 'text', text: 'Oi' }, next: 'nowhere' }] })).toEqual([
      { path: 'steps.0.next', message: 'points to a missing step "nowhere"' },
    ]);
    expect(
      issues({ ...base, steps: [{ id: 'w', type: 'waitForReply', timeout: '1h', branches: [{ button: 'x', next: 'gone' }], onTimeout: 'also-gone' }] }),
    ).toEqual([
      { path: 'steps.0.branches.0.next', message: 'points to a missing step "gone"' },
      { path: 'steps.0.onTimeout', message: 'points to a missing step "also-gone"' },
    ]);
    expect(issues({ ...base, steps: [{ id: 'g', type: 'goto', target: 'x' }] })[0]!.path).toBe('steps.0.target');
  });

  it('rejects a loop without a wait, and accepts one with a wait', () => {
    const loop = issues({
      ...base,
      steps: [
        { id: 'a', type: 'send', message: { type: 'text', text: 'Oi' } },
        { id: 'b', type: 'tag', tags: ['x'] },
        { id: 'c', type: 'goto', target: 'a' },
      ],
    });
    expect(loop).toHaveLength(1);
    expect(loop[0]!.path).toBe('steps.0');
    expect(loop[0]!.message).toBe('loop without a wait: a → b → c → a');
    expect(
      issues({
        ...base,
        steps: [
          { id: 'a', type: 'send', message: { type: 'text', text: 'Oi' } },
          { id: 'b', type: 'waitForReply', timeout: '1h', branches: [{ keyword: 'de novo', next: 'a' }] },
        ],
      }),
    ).toEqual([]);
  });

  it('rejects empty sends and provider limits with their paths', () => {
    expect(issues({ ...base, steps: [{ id: 'a', type: 'send', message: { type: 'text', text: '   ' } }] })).toEqual([
      { path: 'steps.0.message.text', message: 'text must not be empty' },
    ]);
    const buttons = issues({
      ...base,
      steps: [
        {
          id: 'a',
          type: 'send',
          message: { type: 'buttons', text: 'Escolha', buttons: [1, 2, 3, 4].map((i) => ({ id: `b${i}`, title: `Opção ${i}` })) },
        },
      ],
    });
    expect(buttons).toEqual([{ path: 'steps.0.message.buttons', message: 'at most 3 reply buttons' }]);
    const title = issues({
      ...base,
      steps: [{ id: 'a', type: 'send', message: { type: 'buttons', text: 'x', buttons: [{ id: 'b', title: 'Um título longo demais aqui' }] } }],
    });
    expect(title[0]!.path).toBe('steps.0.message.buttons.0.title');
  });

  it('rejects duplicate step ids, bad regex triggers and ambiguous delays', () => {
    expect(issues({ ...base, steps: [base.steps[0], base.steps[0]] })).toEqual([{ path: 'steps.1.id', message: 'duplicate step id "a"' }]);
    expect(issues({ ...base, trigger: { type: 'keyword', phrase: '(', match: 'regex' } })[0]!.path).toBe('trigger.phrase');
    expect(issues({ ...base, steps: [{ id: 'd', type: 'delay' }] })[0]).toEqual({ path: 'steps.0.duration', message: 'give exactly one of duration or until' });
    expect(issues({ ...base, steps: [{ id: 'd', type: 'delay', until: '25:00' }] })[0]!.path).toBe('steps.0.until');
    expect(issues({ ...base, steps: [] })[0]!.path).toBe('steps');
    expect(issues({ ...base, trigger: { type: 'click', phrase: 'x' } })[0]!.path).toBe('trigger.type');
  });
});
