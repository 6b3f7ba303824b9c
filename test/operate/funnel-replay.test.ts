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
