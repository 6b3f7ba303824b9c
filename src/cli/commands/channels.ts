/**
 * `zapflow channels create|qr|state`: a number's life from the terminal, through the same
 * service as the API (src/services/channelLifecycle.ts). `qr` draws the QR in the terminal.
 */
import type { Command } from 'commander';
import QRCode from 'qrcode';
import type { Config } from '../../config';
import type { DbHandle } from '../../db/client';
import { getChannelById } from '../../db/queries/channels';
import { logger } from '../../log';
import { buildProviders } from '../../runtime';
import { channelQr, channelStates, createEvolutionChannel, getChannelView, type LifecycleDeps } from '../../services/channelLifecycle';
import { watchChannel, type WatchDeps } from '../../services/channelWatch';
import { connectTemporal } from '../../temporal/connect';
import { CliError, printJson, printTable } from '../output';

export interface ChannelCommandDeps {
  config: () => Config;
  withDb: <T>(fn: (db: DbHandle) => Promise<T>) => Promise<T>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Runs `fn` with a Temporal client when TEMPORAL_ADDRESS names one (the channel's workflow is
 * started now); without it the next worker start starts the workflow.
 */
async function withOptionalWatch<T>(config: Config, fn: (watch: WatchDeps | undefined) => Promise<T>): Promise<T> {
  if (!config.TEMPORAL_ADDRESS) return fn(undefined);
  let clients;
  try {
    clients = await connectTemporal(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE);
  } catch {
    return fn(undefined);
  }
  try {
    return await fn({ client: clients.client, taskQueue: config.TEMPORAL_TASK_QUEUE, config });
  } finally {
    await clients.connection.close();
  }
}

async function tenantOfChannel(db: DbHandle, channelId: string): Promise<string> {
  const row = UUID.test(channelId) ? await getChannelById(db.db, { channelId }) : undefined;
  if (!row) throw new CliError(`channel ${channelId} not found`);
  return row.tenantId;
}

function lifecycle(config: Config, db: DbHandle, watch?: WatchDeps): LifecycleDeps {
  const log = logger.child({ component: 'cli' });
  return { db: db.db, config, providers: buildProviders(config, db, log), log, watch };
}

/** A freshly added channel's workflow, when Temporal is reachable (best effort). */
export async function watchAddedChannel(config: Config, channel: { id: string; tenantId: string }): Promise<boolean> {
  return withOptionalWatch(config, async (watch) => {
    if (!watch) return false;
    await watchChannel(watch, { channelId: channel.id, tenantId: channel.tenantId });
    return true;
  }).catch(() => false);
}

export function registerChannelCommands(channels: Command, deps: ChannelCommandDeps): void {
  channels
    .command('create')
    .description('create a number on the Evolution server (EVOLUTION_BASE_URL, EVOLUTION_API_KEY, ZAPFLOW_PUBLIC_URL) and print its id; then `channels qr`')
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption('--name <name>', 'a label for the number')
    .option('--json', 'print one JSON document')
    .action((opts: { tenant: string; name: string; json?: boolean }) =>
      deps.withDb(async (db) => {
        await db.migrate();
        const config = deps.config();
        const created = await withOptionalWatch(config, (watch) =>
          createEvolutionChannel(lifecycle(config, db, watch), { tenantId: opts.tenant, input: { provider: 'evolution', name: opts.name } }),
        );
        if (opts.json) printJson(created);
        else process.stdout.write(`channel ${created.id} (evolution ${created.instanceName}) ${created.state}\nscan its QR: zapflow channels qr ${created.id}\n`);
      }),
    );

  channels
    .command('qr')
    .description('print the QR to scan with WhatsApp (a fresh one when the last has expired)')
    .argument('<channelId>', 'channel id')
    .option('--json', 'print one JSON document ({qr, code, pairingCode, expiresAt})')
    .action((channelId: string, opts: { json?: boolean }) =>
      deps.withDb(async (db) => {
        const config = deps.config();
        const tenantId = await tenantOfChannel(db, channelId);
        const qr = await withOptionalWatch(config, (watch) => channelQr(lifecycle(config, db, watch), { tenantId, channelId }));
        if (opts.json) {
          printJson(qr);
          return;
        }
        if (qr.code) process.stdout.write(await QRCode.toString(qr.code, { type: 'terminal', small: true }));
        else process.stdout.write(`${qr.qr}\n`);
        if (qr.pairingCode) process.stdout.write(`pairing code: ${qr.pairingCode}\n`);
        process.stdout.write(`WhatsApp → Linked devices → Link a device; expires at ${qr.expiresAt}\n`);
      }),
    );

  channels
    .command('state')
    .description("a channel's state, phone number and recent history")
    .argument('<channelId>', 'channel id')
    .option('--limit <n>', 'history entries', '20')
    .option('--json', 'print one JSON document')
    .action((channelId: string, opts: { limit: string; json?: boolean }) =>
      deps.withDb(async (db) => {
        const config = deps.config();
        const tenantId = await tenantOfChannel(db, channelId);
        const view = await getChannelView({ db: db.db, config }, { tenantId, channelId });
        const history = await channelStates({ db: db.db }, { tenantId, channelId, query: { limit: opts.limit } });
        if (opts.json) {
          printJson({ ...view, changes: history.changes });
          return;
        }
        process.stdout.write(
          `${view.name ?? view.instanceName} (${view.provider} ${view.instanceName}): ${view.state}` +
            `${view.phoneNumber ? `, +${view.phoneNumber}` : ''}${view.downSince ? `, down since ${view.downSince}` : ''}` +
            `${view.quality ? `, quality ${view.quality.rating ?? '?'} ${view.quality.messagingLimit ?? ''}` : ''}\n`,
        );
        printTable(history.changes.map((c) => ({ ...c, previous: c.previous ?? '', reason: c.reason ?? '' })), ['at', 'state', 'previous', 'reason']);
      }),
    );
}
