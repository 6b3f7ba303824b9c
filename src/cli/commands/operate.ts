/**
 * Operator commands: `funnels failed`, `funnels replay`, `workflows check-replay`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline/promises';
import { Option, type Command } from 'commander';
import type { Client } from '@temporalio/client';
import type { Config } from '../../config';
import type { DbHandle } from '../../db/client';
import { parseDuration } from '../../domain/duration';
import { executeReplay, followReplays, listFailedRuns, planReplay, type ReplayFrom, type ReplayOutcome } from '../../services/funnelReplay';
import { connectTemporal } from '../../temporal/connect';
import { replayFiles } from '../../temporal/replay';
import { WorkflowType } from '../../workflows/definitions';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { CliError, printTable } from '../output';

export interface OperateDeps {
  config: () => Config;
  withDb: <T>(fn: (db: DbHandle) => Promise<T>) => Promise<T>;
}

async function withTemporal<T>(config: Config, fn: (client: Client) => Promise<T>): Promise<T> {
  const address = config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_DEV_PORT}`;
  let clients;
  try {
    clients = await connectTemporal(address, config.TEMPORAL_NAMESPACE);
  } catch (err) {
    throw new CliError(`Temporal unreachable at ${address} (set TEMPORAL_ADDRESS): ${(err as Error).message.split('\n')[0]}`);
  }
  try {
    return await fn(clients.client);
  } finally {
    await clients.connection.close();
  }
}

function sinceOption(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const ms = parseDuration(value);
  if (ms === null) throw new CliError(`--since: "${value}" is not a duration (e.g. 30m, 24h, 7d)`, 2);
  return new Date(Date.now() - ms);
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

export function registerOperateCommands(program: Command, deps: OperateDeps): void {
  const funnels = program.command('funnels').description('inspect and repair funnel runs');

  funnels
    .command('failed')
    .description("list failed funnel runs (Temporal visibility joined with their funnel_runs rows)")
    .option('--tenant <id>', 'only this tenant')
    .option('--funnel <id>', 'only this funnel')
    .option('--since <duration>', 'failed within this duration', '24h')
    .option('--limit <n>', 'at most this many', '1000')
    .option('--json', 'print JSON lines, one run per line')
    .action((opts: { tenant?: string; funnel?: string; since?: string; limit: string; json?: boolean }) =>
      deps.withDb((db) =>
        withTemporal(deps.config(), async (client) => {
          const runs = await listFailedRuns(client, db.db, {
            tenantId: opts.tenant,
            funnelId: opts.funnel,
            since: sinceOption(opts.since),
            limit: Number(opts.limit) || 1000,
          });
          if (opts.json) for (const run of runs) process.stdout.write(`${JSON.stringify(run)}\n`);
          else printTable(runs as unknown as Array<Record<string, unknown>>, ['runId', 'tenantId', 'contact', 'funnelId', 'failedStep', 'error', 'failedAt']);
        }),
      ),
    );

  funnels
    .command('replay')
    .description('put failed funnel runs back on track; messages the provider already accepted are never sent again')
    .argument('[runIds...]', 'run ids (workflow ids) to replay')
    .option('--all-failed', 'replay every failed run matching the filters')
    .option('--tenant <id>', 'with --all-failed: only this tenant')
    .option('--funnel <id>', 'with --all-failed: only this funnel')
    .option('--since <duration>', 'with --all-failed: failed within this duration', '24h')
    .addOption(new Option('--from <point>', 'where the run starts again').choices(['failed-step', 'start']).default('failed-step'))
    .option('--dry-run', 'list what would happen and change nothing')
    .option('--yes', 'do not ask for confirmation')
    .option('--wait <duration>', 'follow the replayed runs this long: any that fail again are named and the exit status is 1 (0: do not wait)', '30s')
    .option('--json', 'print the summary as one JSON document')
    .action(
      (
        runIds: string[],
        opts: {
          allFailed?: boolean;
          tenant?: string;
          funnel?: string;
          since?: string;
          from: ReplayFrom;
          dryRun?: boolean;
          yes?: boolean;
          wait: string;
          json?: boolean;
        },
      ) =>
        deps.withDb((db) =>
          withTemporal(deps.config(), async (client) => {
            if (!opts.allFailed && runIds.length === 0) throw new CliError('name run ids or use --all-failed', 2);
            if (opts.allFailed && runIds.length > 0) throw new CliError('give run ids or --all-failed, not both', 2);
            const ids = opts.allFailed
              ? (await listFailedRuns(client, db.db, { tenantId: opts.tenant, funnelId: opts.funnel, since: sinceOption(opts.since) })).map((r) => r.runId)
              : runIds;
            const plans = [];
            for (const id of ids) plans.push(await planReplay(client, db.db, id, opts.from));
            const toReplay = plans.filter((p) => p.action === 'replay');
            const log = (line: string) => (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
            for (const p of plans) {
              log(p.action === 'replay' ? `${opts.dryRun ? 'would replay' : 'replay'} ${p.runId} from ${p.stepId ?? 'the start'}` : `skip ${p.runId}: ${p.reason}`);
            }
            const waitMs = parseDuration(opts.wait);
            if (waitMs === null) throw new CliError(`--wait: "${opts.wait}" is not a duration (e.g. 30s, 2m)`, 2);
            const summary = {
              asked: ids.length,
              replayed: 0,
              skipped: plans.filter((p) => p.action === 'skip').map((p) => ({ runId: p.runId, reason: p.reason })),
              errors: [] as Array<{ runId: string; error: string }>,
              failedAgain: [] as ReplayOutcome['failedAgain'],
              dryRun: Boolean(opts.dryRun),
            };
            const started: typeof toReplay = [];
            if (!opts.dryRun && toReplay.length > 0) {
              const bulk = opts.allFailed || toReplay.length > 1;
              if (bulk && !opts.yes && !(await confirm(`Replay ${toReplay.length} run(s) from ${opts.from}?`))) {
                throw new CliError('not confirmed (use --yes to replay without asking)', 1);
              }
              let done = 0;
              for (const plan of toReplay) {
                try {
                  await executeReplay(client, db.db, plan);
                  summary.replayed++;
                  started.push(plan);
                } catch (err) {
                  summary.errors.push({ runId: plan.runId, error: (err as Error).message });
                }
                done++;
                if (bulk) process.stderr.write(`\rreplaying ${done}/${toReplay.length}`);
              }
              if (bulk) process.stderr.write('\n');
              if (waitMs > 0 && started.length > 0) {
                const followed = await followReplays(db.db, started, { waitMs });
                summary.failedAgain = followed.failedAgain;
                for (const f of followed.failedAgain) log(`failed again ${f.runId}${f.step ? ` at ${f.step}` : ''}: ${f.error ?? 'failed'}`);
                if (followed.pending.length > 0) log(`${followed.pending.length} run(s) still at their failed step after ${opts.wait}: check them with \`zapflow funnels failed\``);
              }
            }
            if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
            else
              log(
                `${opts.dryRun ? 'dry run: ' : ''}${opts.dryRun ? toReplay.length : summary.replayed} to replay, ${summary.skipped.length} skipped, ${summary.errors.length} error(s)` +
                  (summary.failedAgain.length > 0 ? `, ${summary.failedAgain.length} failed again` : '') +
                  summary.errors.map((e) => `\n  error ${e.runId}: ${e.error}`).join(''),
              );
            const complete = opts.dryRun ? summary.skipped.length === 0 : summary.replayed === ids.length && summary.failedAgain.length === 0;
            if (!complete) process.exitCode = 1;
          }),
        ),
    );

  const workflows = program.command('workflows').description('workflow code checks');
  workflows
    .command('check-replay')
    .description('replay recorded or recent histories against the current workflow code (nondeterminism check)')
    .argument('[files...]', 'exported JSON histories; without files, recent histories are downloaded from Temporal')
    .option('--since <duration>', 'downloaded histories: workflows started within this duration', '7d')
    .addOption(new Option('--type <type>', 'downloaded histories: only this kind').choices(['funnel', 'contact', 'all']).default('all'))
    .option('--limit <n>', 'downloaded histories: at most this many', '200')
    .addOption(new Option('--workflows <path>', 'workflow code to check (default: src/workflows)').hideHelp())
    .action(async (files: string[], opts: { since?: string; type: string; limit: string; workflows?: string }) => {
      Runtime.install({ logger: new DefaultLogger('ERROR') });
      const workflowsPath = path.resolve(opts.workflows ?? path.join(__dirname, '../../workflows'));
      let paths = files.map((f) => path.resolve(f));
      let tmp: string | undefined;
      if (paths.length === 0) {
        const config = deps.config();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zapflow-check-replay-'));
        paths = await withTemporal(config, async (client) => {
          const types: string[] = opts.type === 'funnel' ? [WorkflowType.funnelRun] : opts.type === 'contact' ? [WorkflowType.contact] : [WorkflowType.funnelRun, WorkflowType.contact];
          const since = sinceOption(opts.since)!;
          const query = `(${types.map((t) => `WorkflowType = '${t}'`).join(' OR ')}) AND StartTime > '${since.toISOString()}'`;
          const out: string[] = [];
          for await (const wf of client.workflow.list({ query })) {
            const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
            const file = path.join(tmp!, `${out.length}.json`);
            fs.writeFileSync(file, JSON.stringify({ workflowId: wf.workflowId, workflowType: wf.type, history: JSON.parse(historyToJSON(history)) as unknown }));
            out.push(file);
            if (out.length >= (Number(opts.limit) || 200)) break;
          }
          return out;
        });
      }
      for (const file of paths) if (!fs.existsSync(file)) throw new CliError(`no such history file: ${file}`, 2);
      const results = await replayFiles(paths, { workflowsPath });
      const failed = results.filter((r) => !r.ok);
      process.stdout.write(`replayed ${results.length} histor${results.length === 1 ? 'y' : 'ies'}: ${results.length - failed.length} ok, ${failed.length} failed\n`);
      if (failed.length > 0) {
        const first = failed[0];
        process.stdout.write(`first divergence: ${first.workflowId} (${path.basename(first.file)}): ${first.error}\n`);
        process.exitCode = 1;
      }
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });
}
