/**
 * The `zapflow` command. A thin commander app: `noun verb` commands, options validated,
 * `--json` prints exactly one JSON document, errors are one line (stack with --verbose).
 */
import { registerSecretsCommands } from './commands/secrets';
import { FROM_FILE_OR_STDIN, resolveSecretOptions } from './secretOptions';
import fs from 'node:fs';
import { Command, Option } from 'commander';
import { ZodError } from 'zod';
import { ConfigError, loadConfig, type Config } from '../config';
import { logger } from '../log';
import { openDatabase } from '../runtime';
import { addChannel, ChannelConflict, ChannelNotFound, listChannels, updateChannel } from '../services/channels';
import { createApiKey, createTenant, revokeApiKey } from '../services/tenants';
import { PROVIDERS, WEBHOOK_EVENT_STATUSES, type Provider, type WebhookEventStatus } from '../domain/records';
import { listWebhookEvents } from '../db/queries/events';
import { retryDeadEvents } from '../services/deadLetters';
import { parseDuration } from '../domain/duration';
import { zodIssues } from '../api/errors';
import { runApi, runDev, runWorkerProcess, runDispatcherProcess } from './commands/serve';
import { registerOperateCommands } from './commands/operate';
import { registerChannelCommands, watchAddedChannel } from './commands/channels';
import { CliError, printJson, printTable } from './output';
import { markChannelsWatched } from '../db/queries/channelStates';

/** The configuration from the environment; `overrides` are command options that name a setting. */
function config(overrides: Record<string, string> = {}): Config {
  return loadConfig({ ...process.env, ...overrides });
}

/** Opens the database for a one-shot command, runs `fn`, always closes. */
async function withDb<T>(fn: (db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>): Promise<T> {
  const cfg = config();
  let handle;
  try {
    handle = await openDatabase(cfg);
    await handle.ping();
  } catch (err) {
    throw new CliError(`database unreachable (${cfg.DATABASE_URL ? 'DATABASE_URL' : 'PGlite'}): ${(err as Error).message}`);
  }
  try {
    return await fn(handle);
  } finally {
    await handle.close();
  }
}

export function buildProgram(): Command {
  const program = new Command('zapflow')
    .description('WhatsApp sales automation on Temporal')
    .option('--verbose', 'print stack traces on errors')
    .showHelpAfterError();

  program
    .command('dev')
    .description('run everything on embedded defaults: migrations, Temporal dev server + Web UI, API, worker')
    .action(() => runDev(config(), logger));
  program
    .command('api')
    .description('run the HTTP API (needs DATABASE_URL and TEMPORAL_ADDRESS)')
    .option('--processes <n>', 'HTTP processes sharing the port (overrides API_PROCESSES)')
    .action((opts: { processes?: string }) => runApi(config(opts.processes ? { API_PROCESSES: opts.processes } : {}), logger));
  program
    .command('worker')
    .description('run the Temporal worker (needs DATABASE_URL and TEMPORAL_ADDRESS)')
    .action(() => runWorkerProcess(config(), logger));
  program
    .command('dispatcher')
    .description('hand stored webhooks to their contact workflows, in a process of its own (with DISPATCHER=none)')
    .action(() => runDispatcherProcess(config(), logger));
  program
    .command('migrate')
    .description('apply database migrations')
    .action(() =>
      withDb(async (db) => {
        await db.migrate();
        process.stdout.write(`migrations applied (${db.driver})\n`);
      }),
    );

  const tenants = program.command('tenants').description('manage tenants');
  tenants
    .command('create')
    .description('create a tenant and print its API key (shown once)')
    .requiredOption('--name <name>', 'tenant name')
    .option('--timezone <tz>', 'IANA timezone', 'America/Sao_Paulo')
    .option('--json', 'print one JSON document')
    .action((opts: { name: string; timezone: string; json?: boolean }) =>
      withDb(async (db) => {
        await db.migrate();
        const { tenant, apiKey } = await createTenant(db.db, { name: opts.name, timezone: opts.timezone });
        if (opts.json) printJson({ tenantId: tenant.id, name: tenant.name, apiKey });
        else process.stdout.write(`tenant ${tenant.id} (${tenant.name})\napi key ${apiKey}\n(the key is shown only once)\n`);
      }),
    );

  tenants
    .command('create-key')
    .description('create another API key for a tenant (shown once)')
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--name <name>', 'a label for the key', 'default')
    .option('--json', 'print one JSON document')
    .action((opts: { tenant: string; name: string; json?: boolean }) =>
      withDb(async (db) => {
        const { id, key } = await createApiKey(db.db, { tenantId: opts.tenant, name: opts.name }).catch(() => {
          throw new CliError(`tenant ${opts.tenant} does not exist`);
        });
        if (opts.json) printJson({ tenantId: opts.tenant, apiKeyId: id, apiKey: key });
        else process.stdout.write(`api key ${key}\n(id ${id}; the key is shown only once)\n`);
      }),
    );
  tenants
    .command('revoke-key')
    .description('revoke an API key; requests with it get 401 within seconds')
    .argument('<keyId>', 'the key id (not the key)')
    .action((keyId: string) =>
      withDb(async (db) => {
        if (!(await revokeApiKey(db.db, { keyId }).catch(() => false))) throw new CliError(`API key ${keyId} not found or already revoked`);
        process.stdout.write(`revoked ${keyId}\n`);
      }),
    );

  const channels = program.command('channels').description('manage channels (WhatsApp numbers)');
  channels
    .command('add')
    .description('add a channel to a tenant and print its id')
    .requiredOption('--tenant <id>', 'tenant id')
    .addOption(new Option('--provider <provider>', 'provider').choices([...PROVIDERS]).makeOptionMandatory())
    .requiredOption('--external-id <id>', 'Evolution or Uazapi instance name, Meta phone_number_id or LancePilot account')
    .option('--name <name>', 'display name')
    .option('--base-url <url>', 'provider base URL (default: the public one; required for evolution and uazapi)')
    .option('--api-key <key>', 'Evolution apikey or Uazapi instance token ' + FROM_FILE_OR_STDIN)
    .option('--webhook-secret <secret>', 'secret Evolution/LancePilot send with webhooks (header or ?token=) ' + FROM_FILE_OR_STDIN)
    .option('--app-secret <secret>', 'Meta app secret (X-Hub-Signature-256) ' + FROM_FILE_OR_STDIN)
    .option('--verify-token <token>', 'Meta webhook verify token ' + FROM_FILE_OR_STDIN)
    .option('--access-token <token>', 'Meta / LancePilot access token ' + FROM_FILE_OR_STDIN)
    .option('--workspace-id <id>', 'LancePilot workspace id')
    .option('--allow-groups', 'let group messages trigger automation')
    .option('--json', 'print one JSON document')
    .action((given: Record<string, string | boolean | undefined>) =>
      withDb(async (db) => {
        const opts = resolveSecretOptions(given);
        await db.migrate();
        const channel = await addChannel(db.db, {
          tenantId: String(opts.tenant),
          provider: opts.provider as (typeof PROVIDERS)[number],
          externalId: String(opts.externalId),
          name: opts.name as string | undefined,
          baseUrl: opts.baseUrl as string | undefined,
          apiKey: opts.apiKey as string | undefined,
          webhookSecret: opts.webhookSecret as string | undefined,
          appSecret: opts.appSecret as string | undefined,
          verifyToken: opts.verifyToken as string | undefined,
          accessToken: opts.accessToken as string | undefined,
          workspaceId: opts.workspaceId as string | undefined,
          allowGroups: opts.allowGroups === true ? true : undefined,
        });
        // Its watching workflow now when Temporal is reachable; else the next worker start starts it.
        if (await watchAddedChannel(config(), channel)) await markChannelsWatched(db.db, { channelIds: [channel.id] });
        if (opts.json) printJson({ channelId: channel.id, tenantId: channel.tenantId, provider: channel.provider, externalId: channel.externalId });
        else process.stdout.write(`channel ${channel.id} (${channel.provider} ${channel.externalId})\n`);
      }),
    );
  channels
    .command('list')
    .description("list channels (which credentials are set, never their values)")
    .option('--tenant <id>', 'only this tenant')
    .option('--json', 'print one JSON document')
    .action((opts: { tenant?: string; json?: boolean }) =>
      withDb(async (db) => {
        const rows = await listChannels(db.db, { tenantId: opts.tenant });
        if (opts.json) printJson(rows);
        else
          printTable(
            rows.map((r) => ({ ...r, credentialsSet: r.credentialsSet.join(','), settings: JSON.stringify(r.settings) })),
            ['channelId', 'tenantId', 'provider', 'externalId', 'name', 'credentialsSet', 'settings'],
          );
      }),
    );
  channels
    .command('update')
    .description("change a channel's credentials, groups, LancePilot mapping or quotas (the running API applies it within 10 s)")
    .argument('<channel>', 'channel id or external id (instance name, phone_number_id, account)')
    .option('--name <name>', 'display name')
    .option('--base-url <url>', 'provider base URL')
    .option('--api-key <key>', 'Evolution apikey ' + FROM_FILE_OR_STDIN)
    .option('--webhook-secret <secret>', 'secret Evolution/LancePilot send with webhooks ' + FROM_FILE_OR_STDIN)
    .option('--app-secret <secret>', 'Meta app secret ' + FROM_FILE_OR_STDIN)
    .option('--verify-token <token>', 'Meta webhook verify token ' + FROM_FILE_OR_STDIN)
    .option('--access-token <token>', 'Meta / LancePilot access token ' + FROM_FILE_OR_STDIN)
    .option('--workspace-id <id>', 'LancePilot workspace id')
    .option('--allow-groups', 'let group messages trigger automation')
    .option('--no-allow-groups', 'group messages trigger nothing')
    .option('--lancepilot-mapping <json>', 'LancePilot webhook field mapping, as JSON or @file (merged; "null" removes it)')
    .option('--send-limits <json>', '{"perMinute","perHour","perDay","minGapMs","jitterMs"} for this channel (merged; "null" removes)')
    .option('--json', 'print one JSON document')
    .action((channel: string, given: Record<string, string | boolean | undefined>) =>
      withDb(async (db) => {
        const opts = resolveSecretOptions(given);
        const parseJsonOption = (flag: string, value: string | boolean | undefined) => {
          if (typeof value !== 'string') return undefined;
          const text = value.startsWith('@') ? fs.readFileSync(value.slice(1), 'utf8') : value;
          try {
            return JSON.parse(text) as unknown;
          } catch (err) {
            throw new CliError(`${flag}: not JSON (${(err as Error).message})`, 2);
          }
        };
        // Option names are the change's field names; commander leaves unset ones out.
        const { json: _json, lancepilotMapping, sendLimits, ...fields } = opts;
        const change = { ...fields, lancepilotMapping: parseJsonOption('--lancepilot-mapping', lancepilotMapping), sendLimits: parseJsonOption('--send-limits', sendLimits) };
        const view = await updateChannel(db.db, { channel, change: Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)) });
        if (opts.json) printJson(view);
        else process.stdout.write(`channel ${view.channelId} (${view.provider} ${view.externalId}) updated\nsettings ${JSON.stringify(view.settings)}\n`);
      }),
    );
  registerChannelCommands(channels, { config, withDb });
  registerOperateCommands(program, { config, withDb });
  registerSecretsCommands(program, { withDb });

  const events = program.command('events').description('inspect stored webhook events');
  events
    .command('list')
    .description('list webhook events, newest first (unroutable, rejected and pending ones need a look)')
    .addOption(new Option('--status <status>', 'only events with this status').choices([...WEBHOOK_EVENT_STATUSES]))
    .addOption(new Option('--provider <provider>', 'only this provider').choices([...PROVIDERS]))
    .option('--since <duration>', 'only events received within this duration (e.g. 24h)')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print one JSON document')
    .action((opts: { status?: WebhookEventStatus; provider?: string; since?: string; limit: string; json?: boolean }) =>
      withDb(async (db) => {
        const sinceMs = opts.since ? parseDuration(opts.since) : undefined;
        if (sinceMs === null) throw new CliError(`--since: "${opts.since}" is not a duration (e.g. 30m, 24h, 7d)`, 2);
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new CliError('--limit: must be a positive whole number', 2);
        const rows = await listWebhookEvents(db.db, {
          status: opts.status,
          provider: opts.provider,
          since: sinceMs !== undefined ? new Date(Date.now() - sinceMs) : undefined,
          limit,
        });
        if (opts.json) printJson(rows);
        else
          printTable(
            rows.map((r) => ({ ...r, error: r.error ? `${r.error.path ? `${r.error.path}: ` : ''}${r.error.message}` : '' })),
            ['id', 'receivedAt', 'provider', 'status', 'eventType', 'channelKey', 'tenantId', 'error'],
          );
      }),
    );
  events
    .command('retry')
    .description('requeue dead events: their messages go back to the dispatcher with fresh attempt counters')
    .argument('[eventIds...]', 'ids of dead events (see `events list --status dead`)')
    .option('--all-dead', 'every dead event matching --provider and --since')
    .addOption(new Option('--provider <provider>', 'with --all-dead: only this provider').choices([...PROVIDERS]))
    .option('--since <duration>', 'with --all-dead: only events received within this duration (e.g. 24h)')
    .option('--dry-run', 'list what would be requeued and change nothing')
    .option('--json', 'print one JSON document')
    .action((eventIds: string[], opts: { allDead?: boolean; provider?: Provider; since?: string; dryRun?: boolean; json?: boolean }) =>
      withDb(async (db) => {
        if (!opts.allDead && eventIds.length === 0) throw new CliError('name event ids or use --all-dead', 2);
        if (opts.allDead && eventIds.length > 0) throw new CliError('give event ids or --all-dead, not both', 2);
        if (!opts.allDead && (opts.provider || opts.since)) throw new CliError('--provider and --since go with --all-dead', 2);
        const ids = eventIds.map(Number);
        const bad = eventIds.filter((_, i) => !Number.isSafeInteger(ids[i]) || ids[i] < 1);
        if (bad.length > 0) throw new CliError(`not event ids: ${bad.join(', ')}`, 2);
        const sinceMs = opts.since ? parseDuration(opts.since) : undefined;
        if (sinceMs === null) throw new CliError(`--since: "${opts.since}" is not a duration (e.g. 30m, 24h, 7d)`, 2);
        const dryRun = Boolean(opts.dryRun);
        const outcome = opts.allDead
          ? await retryDeadEvents(db.db, { allDead: true, provider: opts.provider, since: sinceMs !== undefined ? new Date(Date.now() - sinceMs) : undefined, dryRun })
          : await retryDeadEvents(db.db, { eventIds: ids, dryRun });
        if (opts.json) printJson(outcome);
        else {
          for (const r of outcome.requeued) process.stdout.write(`${dryRun ? 'would requeue' : 'requeued'} event ${r.eventId} (${r.messages} message${r.messages === 1 ? '' : 's'})\n`);
          for (const r of outcome.notRequeued) process.stdout.write(`not requeued: event ${r.eventId}: ${r.reason}\n`);
        }
        const count = `${outcome.requeued.length} event(s) ${dryRun ? 'would be ' : ''}requeued`;
        if (outcome.requeued.length === 0 && outcome.notRequeued.length === 0) throw new CliError('no dead events matched', 1);
        if (outcome.notRequeued.length > 0) throw new CliError(`${count}, ${outcome.notRequeued.length} could not be`, 1);
        if (!opts.json) process.stdout.write(`${count}; the dispatcher takes them on its next scan\n`);
      }),
    );
  return program;
}

/** Turns any error into one line on stderr and an exit code. */
function explain(err: unknown): { message: string; code: number } {
  if (err instanceof CliError) return { message: err.message, code: err.exitCode };
  if (err instanceof ConfigError) return { message: err.message, code: 1 };
  if (err instanceof ChannelConflict || err instanceof ChannelNotFound) return { message: err.message, code: 1 };
  if (err instanceof ZodError) {
    return { message: zodIssues(err).map((i) => `--${i.path.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i.message}`).join('; '), code: 2 };
  }
  return { message: (err as Error)?.message ?? String(err), code: 1 };
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const { message, code } = explain(err);
    process.stderr.write(`zapflow: ${message}\n`);
    if (program.opts().verbose && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exit(code);
  }
}
