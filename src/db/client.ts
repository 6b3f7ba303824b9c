import fs from 'node:fs';
import path from 'node:path';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';
import * as schema from './schema';
import { credentialFields, isSealed } from './credentials';
import { resealChannelCredentials } from './queries/channels';
import { logger } from '../log';

export type Schema = typeof schema;
/** The drizzle database, whichever driver is underneath (postgres.js or PGlite). */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

/** The database and its lifecycle. Members are plain functions (no `this`): pass them around freely. */
export interface DbHandle {
  db: Db;
  driver: 'postgres' | 'pglite';
  /** Applies the migrations in drizzle/. */
  migrate: () => Promise<void>;
  ping: () => Promise<void>;
  /** LISTEN on a channel; resolves once listening, with a function that stops. */
  listen: (channel: string, onPayload: (payload: string) => void) => Promise<() => Promise<void>>;
  close: () => Promise<void>;
}

/**
 * The data step of every migration: channel credentials stored in plaintext (rows from before
 * sealing, or written by an older release) are sealed under the current key.
 */
async function sealPlaintextCredentials(db: Db): Promise<void> {
  const sealed = await resealChannelCredentials(db, { needsResealing: (value) => !isSealed(value) && credentialFields(value).length > 0 });
  if (sealed > 0) logger.info({ channels: sealed }, 'sealed plaintext channel credentials');
}

export const MIGRATIONS_FOLDER = path.resolve(__dirname, '../../drizzle');

export interface OpenDbOptions {
  /** PostgreSQL URL; absent: PGlite. */
  url?: string;
  /** PGlite data directory; absent or `memory://`: in memory. */
  pgliteDir?: string;
  poolSize?: number;
  /** Shown in pg_stat_activity, so an operator can tell the API's connections from the worker's. */
  applicationName?: string;
}

/** Opens the database: postgres.js for a URL, PGlite otherwise. Same drizzle API for both. */
export async function openDb(options: OpenDbOptions): Promise<DbHandle> {
  if (options.url) {
    const { default: postgres } = await import('postgres');
    const { drizzle } = await import('drizzle-orm/postgres-js');
    const { migrate } = await import('drizzle-orm/postgres-js/migrator');
    const client = postgres(options.url, {
      max: options.poolSize ?? 10,
      onnotice: () => {},
      connect_timeout: 5,
      ...(options.applicationName ? { connection: { application_name: options.applicationName } } : {}),
    });
    const db = drizzle(client, { schema });
    return {
      db: db as unknown as Db,
      driver: 'postgres',
      migrate: async () => {
        await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
        await sealPlaintextCredentials(db);
      },
      ping: async () => {
        await client`select 1`;
      },
      // postgres.js keeps one connection for LISTEN and re-listens after reconnecting.
      listen: async (channel, onPayload) => {
        const listening = await client.listen(channel, onPayload);
        return () => listening.unlisten();
      },
      close: () => client.end({ timeout: 5 }),
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  const dir = options.pgliteDir && options.pgliteDir !== 'memory://' ? options.pgliteDir : undefined;
  if (dir) fs.mkdirSync(dir, { recursive: true });
  const client = dir ? new PGlite(dir) : new PGlite();
  const db = drizzle(client, { schema });
  return {
    db: db as unknown as Db,
    driver: 'pglite',
    migrate: async () => {
      await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
      await sealPlaintextCredentials(db);
    },
    ping: async () => {
      await db.execute(sql`select 1`);
    },
    listen: async (channel, onPayload) => client.listen(channel, onPayload),
    close: () => client.close(),
  };
}
