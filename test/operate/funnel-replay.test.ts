/**
 * The operator's night: a provider outage fails 20 funnel runs; `zapflow funnels failed`
 * lists them and `zapflow funnels replay` puts them back on track without messaging
 * anyone twice. Driven as a user would: the real command in a child process.
 */
import { eq } from 'drizzle-orm';
import { funnelRuns } from '../../src/db/schema';
import { runCli } from '../support/cli';
import { eventually } from '../support/stack';
import { funnelDef, startFunnelStack, type FunnelStack } from '../support/funnels';

describe('zapflow funnels failed / replay', () => {
  let f: FunnelStack;
  let env: Record<string, string>;
  beforeAll(async () => {
    f = await startFunnelStack();
    env = { DATABASE_URL: f.stack.db.url ?? '', TEMPORAL_ADDRESS: f.stack.config.TEMPORAL_ADDRESS! };
  });
  afterAll(() => f.close());

  it('lists 20 failed runs and replays them from the failed step, sending nothing twice', async () => {
    if (!f.stack.db.url) return expect(f.stack.db.driver).toBe('pglite'); // the CLI needs a shared database
    await f.api(
      'POST',
      '/api/funnels',
      funnelDef({
        steps: [
          { id: 'hello', type: 'send', message: { type: 'text', text: 'Oi {{name}}!' } },
          { id: 'offer', type: 'send', message: { type: 'text', text: 'Temos uma oferta para você' } },
          { id: 'bye', type: 'send', message: { type: 'text', text: 'Até mais' } },
        ],
      }),
    );
    // The outage: the second message of every run fails.
    const outage = f.evolution.server.respondWith((r) => JSON.stringify(r.body ?? '').includes('oferta'), { status: 503, body: { error: 'down' } });
    const phones = Array.from({ length: 20 }, (_, i) => `55119777${String(i).padStart(5, '0')}`);
    for (const phone of phones) await f.click(phone, { displayText: 'Pode falar sim!' });
    await eventually(async () => {
      const rows = await f.stack.db.db.select().from(funnelRuns);
      return rows.filter((r) => r.status === 'failed').length === 20;
    }, 60_000, '20 failed runs');
    const failedRows = await f.stack.db.db.select().from(funnelRuns);
    expect(failedRows.map((r) => r.error?.step)).toEqual(phones.map(() => 'offer'));
    for (const phone of phones) expect(f.sentTo(phone).map((s) => s.body.text)).toEqual(['Oi Ana Souza!']);

    await eventually(async () => {
      const listed = await runCli(['funnels', 'failed', '--json', '--tenant', f.tenant.tenant.id], env);
      return listed.stdout.trim().split('\n').filter(Boolean).length === 20;
    }, 20_000, 'visibility lists 20 failed runs');
    const listed = await runCli(['funnels', 'failed', '--json', '--tenant', f.tenant.tenant.id], env);
    const lines = listed.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ tenantId: f.tenant.tenant.id, failedStep: 'offer', error: expect.stringMatching(/503|down/) });
    const table = await runCli(['funnels', 'failed', '--since', '1h'], env);
    expect(table.stdout).toMatch(/runId\s+tenantId\s+contact/);

    const dry = await runCli(['funnels', 'replay', '--all-failed', '--tenant', f.tenant.tenant.id, '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.stdout.match(/would replay/g)).toHaveLength(20);
    expect(dry.stdout).toMatch(/from offer/);
    await new Promise((r) => setTimeout(r, 500));
    expect((await f.stack.db.db.select().from(funnelRuns)).filter((r) => r.status === 'failed')).toHaveLength(20); // nothing changed

    // Without --yes and no terminal to ask: refused, nothing replayed.
    const unconfirmed = await runCli(['funnels', 'replay', '--all-failed', '--tenant', f.tenant.tenant.id], env);
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.stderr).toMatch(/not confirmed/);

    outage(); // the provider is healthy again
    const replay = await runCli(['funnels', 'replay', '--all-failed', '--tenant', f.tenant.tenant.id, '--yes', '--json'], env);
    expect(replay.code).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({ asked: 20, replayed: 20, errors: [] });
    await eventually(async () => {
      const rows = await f.stack.db.db.select().from(funnelRuns);
      return rows.filter((r) => r.status === 'completed').length === 20;
    }, 60_000, '20 completed runs');
    for (const phone of phones) {
      expect(f.sentTo(phone).map((s) => s.body.text)).toEqual(['Oi Ana Souza!', 'Temos uma oferta para você', 'Até mais']);
    }

    // Replaying a run that is no longer failed is skipped, and the exit status says so.
    const [done] = await f.stack.db.db.select().from(funnelRuns).where(eq(funnelRuns.contactKey, phones[0]!));
    const again = await runCli(['funnels', 'replay', done!.id], env);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/skip .*completed, not failed/);
  }, 180_000);

  it('replays runs the provider refused (401) once the token is fixed: all 20 delivered, nobody twice; while still refused it says so', async () => {
    if (!f.stack.db.url) return expect(f.stack.db.driver).toBe('pglite');
    await f.api(
      'POST',
      '/api/funnels',
      funnelDef({
        name: 'Boas-vindas',
        trigger: { type: 'button', phrase: 'Quero saber mais' },
        steps: [{ id: 'welcome', type: 'send', message: { type: 'text', text: 'Boas-vindas, {{name}}!' } }],
      }),
    );
    // An expired token: Evolution refuses every send of this funnel with 401.
    const expired = f.evolution.server.respondWith((r) => JSON.stringify(r.body ?? '').includes('Boas-vindas'), { status: 401, body: { error: 'Unauthorized' } });
    const phones = Array.from({ length: 20 }, (_, i) => `55119666${String(i).padStart(5, '0')}`);
    for (const phone of phones) await f.click(phone, { displayText: 'Quero saber mais' });
    const failedRuns = async () => (await f.stack.db.db.select().from(funnelRuns)).filter((r) => phones.includes(r.contactKey) && r.status === 'failed');
    await eventually(async () => (await failedRuns()).length === 20, 60_000, '20 runs refused');
    expect((await failedRuns())[0]!.error).toMatchObject({ step: 'welcome', type: 'ProviderAuth' });
    await eventually(async () => {
      const listed = await runCli(['funnels', 'failed', '--json', '--tenant', f.tenant.tenant.id], env);
      return listed.stdout.trim().split('\n').filter((l) => phones.some((p) => l.includes(p))).length === 20;
    }, 20_000, 'visibility lists the 20 refused runs');

    // Replayed while the token is still wrong: they fail again, and the command says which.
    const one = (await failedRuns())[0]!;
    const stillRefused = await runCli(['funnels', 'replay', one.id, '--wait', '20s'], env);
    expect(stillRefused.code).toBe(1);
    expect(stillRefused.stdout).toContain(`failed again ${one.id} at welcome`);
    await eventually(async () => (await failedRuns()).length === 20, 20_000, 'the one replayed run failed again');

    expired(); // the operator fixes the token
    const replay = await runCli(['funnels', 'replay', '--all-failed', '--tenant', f.tenant.tenant.id, '--since', '1h', '--yes', '--json', '--wait', '60s'], env);
    expect(JSON.parse(replay.stdout)).toMatchObject({ replayed: 20, errors: [], failedAgain: [] });
    expect(replay.code).toBe(0);
    await eventually(async () => {
      const rows = await f.stack.db.db.select().from(funnelRuns);
      return rows.filter((r) => phones.includes(r.contactKey) && r.status === 'completed').length === 20;
    }, 60_000, '20 completed runs');
    for (const phone of phones) expect(f.sentTo(phone).map((s) => s.body.text)).toEqual(['Boas-vindas, Ana Souza!']);
  }, 240_000);

  it('names an unreachable Temporal or database plainly, without a stack trace', async () => {
    const noTemporal = await runCli(['funnels', 'failed'], { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(noTemporal.code).toBe(1);
    expect(noTemporal.stderr).toMatch(/^zapflow: Temporal unreachable at 127\.0\.0\.1:1/);
    expect(noTemporal.stderr).not.toMatch(/\n\s+at /);
    const noDb = await runCli(['funnels', 'failed'], { ...env, DATABASE_URL: 'postgres://nobody:x@127.0.0.1:1/none' });
    expect(noDb.code).toBe(1);
    expect(noDb.stderr).toMatch(/^zapflow: database unreachable/);
  });
});
