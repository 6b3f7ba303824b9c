/**
 * Delivery micro-benchmark (`npx tsx bench/delivery.ts`).
 *
 * Calls `deliver()` in process, with no Temporal, N times (default 2,000) at a fixed
 * concurrency (default 16), each with its own idempotency key and its own (existing)
 * contact, on a fresh PostgreSQL database (`zf_bench_delivery_<rand>`, dropped at the end),
 * to a loopback Evolution fake. It isolates what
 * one successful send costs zapflow's process: database statements and Node CPU.
 *
 * Phases (`--phases`, default `off,on`):
 *   off  quotas high (still counted on every send), pacing off
 *   on   the same, on a second channel whose settings turn pacing on (`--gap`/`--jitter`,
 *        default 1 ms + up to 1 ms: small enough not to become the bottleneck, while every
 *        send still takes a pacing slot)
 * Each phase prints sends/s, Node CPU ms per send (process.cpuUsage of this process only:
 * the Evolution fake runs in a child process so its HTTP handling is not counted) and SQL
 * statements per send (every statement sent through postgres.js, counted where drizzle and
 * zapflow's prepared statements hand it over).
 * A warm-up of `--warmup` sends (default 500: JIT, prepared statements) runs first and is
 * not measured.
 *
 * The absolute rate depends on what else the machine runs; CPU ms per send and statements
 * per send are the figures to compare between two versions, run back to back.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';
import { eq, like, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import pino from 'pino';
import postgres from 'postgres';
import { createProviderClients } from '../src/providers';
import { loadConfig } from '../src/config';
import { MIGRATIONS_FOLDER, type Db } from '../src/db/client';
import * as schema from '../src/db/schema';
import { addChannel } from '../src/services/channels';
import { deliver, type DeliveryDeps } from '../src/services/delivery';
import type { ProviderRegistry } from '../src/providers/types';
import { createTenant } from '../src/services/tenants';
import { startEvolutionFake } from '../test/fakes';

const DEFAULT_DATABASE_URL = 'postgres://zapflow:zapflow@127.0.0.1:5432/zapflow';
const say = (line = '') => process.stdout.write(`${line}\n`);

interface Options {
  sends: number;
  concurrency: number;
  warmup: number;
  phases: Array<'off' | 'on'>;
  gapMs: number;
  jitterMs: number;
  pool: number;
  breakdown: boolean;
  cpuProfile?: string;
  keepDb: boolean;
}

const HELP = `tsx bench/delivery.ts [flags]

  --sends N        measured deliver() calls per phase (default 2000)
  --concurrency N  calls in flight (default 16)
  --warmup N       unmeasured calls first (default 500)
  --phases LIST    off,on (default): pacing off, then pacing on (a second channel)
  --gap MS         pacing minimum gap in the "on" phase (default 1)
  --jitter MS      pacing jitter in the "on" phase (default 1)
  --pool N         postgres.js pool size (default 10, zapflow's DATABASE_POOL_SIZE default)
  --breakdown      also print statements per send by statement text
  --cpu-profile D  write a .cpuprofile of each measured phase (only) into directory D
  --keep-db        do not drop the database at the end

Environment: DATABASE_URL (server to create the bench database on; default ${DEFAULT_DATABASE_URL}).`;

function parseOptions(argv: string[]): Options {
  const o: Options = { sends: 2000, concurrency: 16, warmup: 500, phases: ['off', 'on'], gapMs: 1, jitterMs: 1, pool: 10, breakdown: false, keepDb: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = (min: number) => {
      const n = Number(next());
      if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer >= ${min}`);
      return n;
    };
    switch (flag) {
      case '--sends': o.sends = num(1); break;
      case '--concurrency': o.concurrency = num(1); break;
      case '--warmup': o.warmup = num(0); break;
      case '--phases': {
        const list = next().split(',').map((s) => s.trim());
        if (list.some((p) => p !== 'off' && p !== 'on')) throw new Error('--phases takes off and/or on');
        o.phases = list as Options['phases'];
        break;
      }
      case '--gap': o.gapMs = num(0); break;
      case '--jitter': o.jitterMs = num(0); break;
      case '--pool': o.pool = num(1); break;
      case '--breakdown': o.breakdown = true; break;
      case '--cpu-profile': o.cpuProfile = next(); break;
      case '--keep-db': o.keepDb = true; break;
      case '--help': case '-h': say(HELP); process.exit(0);
       
      default: throw new Error(`unknown flag ${flag} (see --help)`);
    }
  }
  return o;
}

// ───────────────────────── the fake, in a child process ─────────────────────────

type FakeMessage = { type: 'ready'; url: string } | { type: 'count'; sent: number; distinct: number };

/** Child role: the Evolution fake, so its HTTP work does not count as the sender's CPU. */
async function runFakeRole(): Promise<void> {
  const fake = await startEvolutionFake({ apiKey: 'bench-evo-key', instances: ['loja-1', 'loja-2'], backlog: 8192, maxRecorded: 1_000_000 });
  process.on('message', (m: { type: string }) => {
    if (m.type === 'count') {
      process.send!({ type: 'count', sent: fake.sent.length, distinct: new Set(fake.sent.map((s) => s.number)).size } satisfies FakeMessage);
    }
    if (m.type === 'stop') void fake.close().then(() => process.exit(0));
  });
  process.send!({ type: 'ready', url: fake.url } satisfies FakeMessage);
}

async function startFakeChild() {
  const child = fork(__filename, ['--role', 'fake'], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: FakeMessage) => (m.type === 'ready' ? resolve(m.url) : reject(new Error('unexpected message'))));
    child.once('exit', (code) => reject(new Error(`fake exited (${code})`)));
  });
  return {
    url,
    count: () =>
      new Promise<{ sent: number; distinct: number }>((resolve) => {
        child.once('message', (m: FakeMessage) => m.type === 'count' && resolve(m));
        child.send({ type: 'count' });
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.send({ type: 'stop' });
      }),
  };
}

// ───────────────────────────────── measuring ─────────────────────────────────

/** Every statement postgres.js sends, by a short form of its text. */
class StatementCounter {
  total = 0;
  readonly byText = new Map<string, number>();
  note(query: string): void {
    this.total++;
    // Keyed by the raw start of the text (cheap); normalised only when printed.
    const key = query.slice(0, 160);
    this.byText.set(key, (this.byText.get(key) ?? 0) + 1);
  }
  lines(): Array<[string, number]> {
    const merged = new Map<string, number>();
    for (const [raw, n] of this.byText) {
      const text = raw.replace(/\s+/g, ' ').trim().slice(0, 100);
      merged.set(text, (merged.get(text) ?? 0) + n);
    }
    return [...merged].sort((a, b) => b[1] - a[1]);
  }
  reset(): void {
    this.total = 0;
    this.byText.clear();
  }
}

/** The V8 profiler of this process, started now; `stop` writes the profile. */
async function startProfile() {
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<{ profile?: object }>((resolve, reject) =>
      session.post(method, params, (err, res) => (err ? reject(err) : resolve((res ?? {})))),
    );
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 200 });
  await post('Profiler.start');
  return {
    async stop(file: string) {
      const { profile } = await post('Profiler.stop');
      session.disconnect();
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, JSON.stringify(profile));
    },
  };
}

async function runPool(n: number, concurrency: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (let i = next++; i < n; i = next++) await one(i);
    }),
  );
}

async function main(): Promise<void> {
  if (process.argv.includes('--role')) return runFakeRole();
  const opts = parseOptions(process.argv.slice(2));
  const baseUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;

  // The fake first: if it cannot start, there is no database to drop yet.
  const fake = await startFakeChild();
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {}, connect_timeout: 3 });
  const dbName = `zf_bench_delivery_${randomBytes(6).toString('hex')}`;
  try {
    await admin.unsafe(`create database ${dbName}`);
  } catch (err) {
    await fake.stop();
    throw err;
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${dbName}`;

  const counter = new StatementCounter();
  // The same client zapflow opens (src/db/client.ts). Statements are counted where every
  // drizzle query and every prepared statement enters postgres.js (`unsafe`), not with
  // postgres.js's `debug` option: that one captures a stack trace per query and would
  // inflate the very CPU being measured.
  const client = postgres(url.toString(), { max: opts.pool, onnotice: () => {}, connect_timeout: 5 });
  const unsafe = client.unsafe.bind(client);
  client.unsafe = ((query: string, ...rest: Parameters<typeof client.unsafe> extends [string, ...infer R] ? R : never) => {
    counter.note(query);
    return unsafe(query, ...rest);
  }) as typeof client.unsafe;
  const drz = drizzle(client, { schema });
  const db = drz as unknown as Db;

  const cleanup = async () => {
    await fake.stop().catch(() => {});
    await client.end({ timeout: 5 }).catch(() => {});
    if (opts.keepDb) {
      say(`  kept database ${dbName}`);
      return;
    }
    const c = postgres(baseUrl, { max: 1, onnotice: () => {} });
    await c.unsafe(`drop database if exists ${dbName} with (force)`).catch((err) => say(`  could not drop ${dbName}: ${(err as Error).message}`));
    await c.end();
  };

  try {
    await migrate(drz, { migrationsFolder: MIGRATIONS_FOLDER });
    const config = loadConfig({
      ...process.env,
      DATABASE_URL: url.toString(),
      LOG_LEVEL: 'warn',
      SEND_CHANNEL_PER_MINUTE: '1000000',
      SEND_CHANNEL_PER_HOUR: '1000000',
      SEND_CHANNEL_PER_DAY: '1000000',
      SEND_TENANT_PER_DAY: '1000000',
      SEND_PACING_MIN_GAP: '0ms',
      SEND_PACING_JITTER: '0ms',
    });
    const log = pino({ level: 'warn' }, pino.destination(2));
    const providers = { ...createProviderClients({ timeoutMs: config.PROVIDER_TIMEOUT }), sandbox: undefined } as unknown as ProviderRegistry;
    const deps: DeliveryDeps = { db, providers, log, config };

    const { tenant } = await createTenant(db, { name: 'Loja bench' });
    const paced = await addChannel(db, { tenantId: tenant.id, provider: 'evolution', externalId: 'loja-2', baseUrl: fake.url, apiKey: 'bench-evo-key' });
    const unpaced = await addChannel(db, { tenantId: tenant.id, provider: 'evolution', externalId: 'loja-1', baseUrl: fake.url, apiKey: 'bench-evo-key' });
    await db
      .update(schema.channels)
      .set({ settings: { sendLimits: { minGapMs: opts.gapMs, jitterMs: opts.jitterMs } } })
      .where(eq(schema.channels.id, paced.id));

    // Every send goes to a contact that exists, as API sends, funnels and follow-ups do.
    const total = opts.warmup + opts.sends * opts.phases.length;
    const phone = (i: number) => `55119${String(10_000_000 + i).padStart(8, '0')}`;
    for (let from = 0; from < total; from += 1000) {
      const rows = Array.from({ length: Math.min(1000, total - from) }, (_, k) => ({ tenantId: tenant.id, phone: phone(from + k) }));
      await db.insert(schema.contacts).values(rows);
    }

    say(`delivery bench: ${opts.sends} sends per phase at concurrency ${opts.concurrency}, pool ${opts.pool}, database ${dbName}`);
    say(`  one tenant, Evolution channels on a loopback fake (child process) ${fake.url}; quotas high (counted), pacing per phase`);

    let seq = 0;
    const runPhase = async (name: string, channelId: string, n: number, measure: boolean) => {
      const first = seq;
      seq += n;
      const failures: unknown[] = [];
      counter.reset();
      const profiler = measure && opts.cpuProfile ? await startProfile() : undefined;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await runPool(n, opts.concurrency, async (k) => {
        const i = first + k;
        try {
          const r = await deliver(deps, {
            tenantId: tenant.id,
            channelId,
            contactKey: phone(i),
            message: { type: 'text', text: `Oi! Pedido ${i} confirmado.` },
            idempotencyKey: `bench:${i}`,
          });
          if (r.alreadySent) failures.push(new Error(`send ${i} reported alreadySent`));
        } catch (err) {
          failures.push(err);
        }
      });
      const wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      if (profiler) {
        const file = path.join(opts.cpuProfile!, `delivery-${name.replace(/\W+/g, '-')}-${process.pid}.cpuprofile`);
        await profiler.stop(file);
        say(`  (profile of ${name}: ${file}; profiling slows the run, so its figures below are not comparable)`);
      }
      if (failures.length) throw new Error(`${name}: ${failures.length} sends failed; first: ${String((failures[0] as Error)?.stack ?? failures[0])}`);
      if (!measure) return;
      const cpuMs = (cpu.user + cpu.system) / 1000;
      say(
        `  ${name.padEnd(12)} ${String(Math.round((n / wallMs) * 1000)).padStart(5)} sends/s   ` +
          `${(cpuMs / n).toFixed(3)} CPU ms/send (user ${(cpu.user / 1000 / n).toFixed(3)}, sys ${(cpu.system / 1000 / n).toFixed(3)})   ` +
          `${(counter.total / n).toFixed(2)} statements/send`,
      );
      if (opts.breakdown) {
        for (const [text, count] of counter.lines()) say(`      ${(count / n).toFixed(2)}  ${text}`);
      }
    };

    if (opts.warmup) await runPhase('warm-up', unpaced.id, opts.warmup, false);
    for (const p of opts.phases) await runPhase(p === 'off' ? 'pacing off' : `pacing on`, p === 'off' ? unpaced.id : paced.id, opts.sends, true);

    // Exactly once: one provider request per send, every row sent with its attempt.
    const received = await fake.count();
    const [stats] = await db
      .select({
        sent: sql<number>`count(*) filter (where ${schema.messages.status} = 'sent' and ${schema.messages.providerMessageId} is not null)::int`,
        all: sql<number>`count(*)::int`,
      })
      .from(schema.messages)
      .where(like(schema.messages.idempotencyKey, 'bench:%'));
    const [attempts] = await db
      .select({ sent: sql<number>`count(*) filter (where ${schema.messageAttempts.outcome} = 'sent')::int`, all: sql<number>`count(*)::int` })
      .from(schema.messageAttempts);
    const ok = received.sent === seq && received.distinct === seq && stats.sent === seq && stats.all === seq && attempts.sent === seq && attempts.all === seq;
    say(
      `  check       provider received ${received.sent} (${received.distinct} numbers), rows sent ${stats.sent}/${stats.all}, attempts sent ${attempts.sent}/${attempts.all}: ${ok ? 'exactly once' : 'MISMATCH'}`,
    );
    if (!ok) process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
