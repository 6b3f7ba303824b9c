/**
 * Issue 20, ReDoS end to end: one tenant's regex funnel and one long inbound message used to
 * stall the contact workflow (and with it the worker every tenant shares). Tenant regexes now
 * run in the workflow sandbox on a linear-time engine (re2js), reply-branch patterns are
 * compiled at save time like triggers, and the 400 names the bad one's path.
 */
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';
import { eventually } from '../support/stack';

describe('tenant regexes in the contact workflow', () => {
  let f: FunnelStack;
  beforeAll(async () => {
    f = await startFunnelStack();
  });
  afterAll(() => f?.close());

  it('refuses an invalid reply-branch pattern and one over 512 characters at save time, naming the path', async () => {
    const withBranch = (keyword: string) =>
      funnelDef({
        name: 'Ramo',
        trigger: { type: 'keyword', phrase: 'oi', match: 'equals' },
        steps: [
          { id: 'ask', type: 'send', message: { type: 'text', text: 'Quer saber mais?' } },
          { id: 'wait', type: 'waitForReply', timeout: '1h', branches: [{ keyword: 'sim', next: 'end' }, { keyword, match: 'regex', next: 'end' }] },
          { id: 'end', type: 'end' },
        ],
      });
    const invalid = await f.api('POST', '/api/funnels', withBranch('(?<!não )quero'));
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.message).toMatch(/^steps\.1\.branches\.1\.keyword: invalid regular expression/);
    const long = await f.api('POST', '/api/funnels', withBranch(`(${'quero|'.repeat(100)}sim)`));
    expect(long.status).toBe(400);
    expect(long.body.error.message).toMatch(/^steps\.1\.branches\.1\.keyword: pattern is \d+ characters, above the 512 limit/);
  });

  it('a catastrophic trigger pattern and a long message do not stall the workflow: the next message is answered', async () => {
    const catastrophic = await f.api(
      'POST',
      '/api/funnels',
      funnelDef({ name: 'Catastrófico', trigger: { type: 'keyword', phrase: '(a+)+$', match: 'regex' }, steps: [{ id: 's', type: 'send', message: { type: 'text', text: 'só aaaa' } }] }),
    );
    expect(catastrophic.status).toBe(201);
    const pedido = await f.api(
      'POST',
      '/api/funnels',
      funnelDef({ name: 'Pedido', trigger: { type: 'keyword', phrase: '^pedido #\\d+$', match: 'regex' }, steps: [{ id: 's', type: 'send', message: { type: 'text', text: 'Pedido recebido!' } }] }),
    );
    expect(pedido.status).toBe(201);

    const phone = '5511933330001';
    expect((await f.say(phone, `${'a'.repeat(5_000)}!`)).status).toBe(200);
    expect((await f.say(phone, 'Pedido #1042')).status).toBe(200);
    await eventually(async () => f.sentTo(phone).length >= 1, 20_000, 'the answer to the second message');
    expect(f.sentTo(phone).map((s) => s.body.text)).toEqual(['Pedido recebido!']);

    // The catastrophic pattern still matches what it should.
    const other = '5511933330002';
    await f.say(other, 'aaaa');
    await eventually(async () => f.sentTo(other).length >= 1, 20_000, 'the catastrophic funnel on a short match');
    expect(f.sentTo(other).map((s) => s.body.text)).toEqual(['só aaaa']);
  });
});
