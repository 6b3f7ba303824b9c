/**
 * `zapflow secrets`: the key channel credentials are sealed with (src/db/credentials.ts).
 *
 *   zapflow secrets status              which key seals how many channels
 *   zapflow secrets rotate              seal every channel under the current key
 *   zapflow secrets rotate --generate   embedded default: a new DATA_DIR/secret.key, the old
 *                                       one kept in secret.keys.previous, every row resealed
 *
 * With ZAPFLOW_SECRET_KEY: set the new key there and the old one in
 * ZAPFLOW_SECRET_KEYS_PREVIOUS (on every process), run `rotate`, then drop the old key.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../../config';
import type { DbHandle } from '../../db/client';
import { credentialFields, isSealed, keyFilePath, loadKeyring, needsResealing, previousKeysFilePath, useKeyring } from '../../db/credentials';
import { listChannelRows, resealChannelCredentials } from '../../db/queries/channels';
import { CliError, printJson } from '../output';

export function registerSecretsCommands(program: Command, deps: { withDb: <T>(fn: (db: DbHandle) => Promise<T>) => Promise<T> }): void {
  const secrets = program.command('secrets').description('the key that encrypts channel credentials at rest');

  secrets
    .command('status')
    .description('the current key and how many channels each key seals')
    .option('--json', 'print one JSON document')
    .action((opts: { json?: boolean }) =>
      deps.withDb(async (db) => {
        const ring = loadKeyring(loadConfig());
        const counts: Record<string, number> = {};
        for (const row of await listChannelRows(db.db, {})) {
          const kid = isSealed(row.credentials) ? row.credentials.kid : credentialFields(row.credentials).length ? 'plaintext' : 'none';
          counts[kid] = (counts[kid] ?? 0) + 1;
        }
        const status = { currentKey: ring.current.id, source: ring.source, previousKeys: [...ring.byId.keys()].filter((k) => k !== ring.current.id), channelsByKey: counts };
        if (opts.json) printJson(status);
        else {
          process.stdout.write(`current key ${status.currentKey} (${status.source})\n`);
          for (const [kid, n] of Object.entries(counts)) process.stdout.write(`  ${kid}: ${n} channel(s)\n`);
        }
      }),
    );

  secrets
    .command('rotate')
    .description('seal every channel\'s credentials under the current key (rows under a previous key are opened with it)')
    .option('--generate', 'embedded default only: make a new DATA_DIR/secret.key first (the old one is kept as a previous key)')
    .option('--json', 'print one JSON document')
    .action((opts: { generate?: boolean; json?: boolean }) =>
      deps.withDb(async (db) => {
        const config = loadConfig();
        if (opts.generate) {
          if (config.ZAPFLOW_SECRET_KEY) throw new CliError('--generate rotates the embedded key file; with ZAPFLOW_SECRET_KEY set, set the new key there and the old one in ZAPFLOW_SECRET_KEYS_PREVIOUS', 2);
          const file = keyFilePath(config);
          const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : undefined;
          if (old) fs.appendFileSync(previousKeysFilePath(config), `${old}\n`, { mode: 0o600 });
          fs.rmSync(file, { force: true });
        }
        const ring = loadKeyring(config);
        useKeyring(ring);
        const rows = await listChannelRows(db.db, {});
        const unreadable = rows.filter((r) => isSealed(r.credentials) && !ring.byId.has(r.credentials.kid)).map((r) => r.id);
        const resealed = await resealChannelCredentials(db.db, {
          needsResealing: (value) => needsResealing(value, ring) && !(isSealed(value) && !ring.byId.has(value.kid)),
        });
        const result = { currentKey: ring.current.id, resealed, unreadable };
        if (opts.json) printJson(result);
        else {
          process.stdout.write(`sealed ${resealed} channel(s) under key ${ring.current.id}\n`);
          if (unreadable.length) process.stdout.write(`${unreadable.length} channel(s) sealed with a key this process does not have: ${unreadable.join(', ')}\n`);
        }
        if (unreadable.length) process.exitCode = 1;
      }),
    );
}
