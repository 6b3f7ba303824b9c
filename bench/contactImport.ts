/**
 * Contact import and list benchmark: `npx tsx bench/contactImport.ts [--rows 100000]`.
 *
 * 1. Streams a CSV of `--rows` data rows (generated as it is sent, chunked, never held whole)
 *    to `POST /api/contacts/import` of an API process of its own, follows the job at
 *    `GET /api/contacts/imports/:id` to completion, and prints the API process's resident
 *    memory: before the upload, and its peak (sampled every 10 ms inside that process) while
 *    the file was received and imported.
 * 2. Gives the imported contacts activity, tags and opt-outs, runs ANALYZE, and prints how the
 *    main `GET /api/contacts` queries run at that size: the statements listContacts sends for
 *    each request (captured from drizzle), each EXPLAIN (ANALYZE, BUFFERS)ed as sent, and the
 *    HTTP latency of the same requests (median of 20).
 *
 * Set-up and tear-down are here: a fresh database `zf_bench_contacts_<rand>` on DATABASE_URL's
 * server (default postgres://zapflow:zapflow@127.0.0.1:5432/zapflow), dropped at the end; the
 * API process is this file with `--role api` (createApp + buildRouters; its Temporal client is
 * lazy and never used by these routes).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { Connection, Client } from '@temporalio/client';
import { drizzle } from 'drizzle-orm/postgres-js';
import pino from 'pino';
import postgres from 'postgres';
import { createApp } from '../src/api/app';
import { buildRouters } from '../src/api/routes';
import { listen } from '../src/api/server';
import { loadConfig } from '../src/config';
import { openDb, type Db } from '../src/db/client';
import { buildIngest } from '../src/ingest';
import { createTenant } from '../src/services/tenants';
import { decodeCursor, parseContactSearch } from '../src/services/contacts';
import { listContacts, listOptedOutContacts } from '../src/db/queries/contacts';
import * as schema from '../src/db/schema';

const DEFAULT_DATABASE_URL = 'postgres://zapflow:zapflow@127.0.0.1:5432/zapflow';

interface ApiMessage {
  type: 'listening' | 'memory';
  port?: number;
  rss?: number;
  peakRss?: number;
  heapUsed?: number;
}

// ── the API process ──

async function runApiRole(): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '100000' });
  const log = pino({ level: 'warn' });
  const db = await openDb({ url: config.DATABASE_URL, poolSize: 10, applicationName: 'zapflow-bench-api' });
  const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
  const { ingest } = buildIngest({ config, db: db.db, client, log, mode: 'notify' });
  const app = createApp({
    config,
    db: db.db,
    pingDb: db.ping,
    pingTemporal: () => Promise.resolve(),
    log,
    routers: buildRouters({ config, db: db.db, temporal: client, ingest, log }),
  });
  const server = await listen(app, 0, '127.0.0.1');
  let peak = process.memoryUsage.rss();
  setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10).unref();
  process.on('message', (msg: { type?: string }) => {
    if (msg.type === 'memory') {
      const reply: ApiMessage = { type: 'memory', rss: process.memoryUsage.rss(), peakRss: peak, heapUsed: process.memoryUsage().heapUsed };
      process.send?.(reply);
      if ((msg as { reset?: boolean }).reset) peak = process.memoryUsage.rss();
    }
    if (msg.type === 'stop') void server.close(1000).then(() => db.close()).then(() => process.exit(0));
  });
  const listening: ApiMessage = { type: 'listening', port: Number(new URL(server.url).port) };
  process.send?.(listening);
}

// ── the bench ──

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

function ask(child: ChildProcess, reset = false): Promise<ApiMessage> {
  return new Promise((resolve) => {
    const onMessage = (msg: ApiMessage) => {
      if (msg.type !== 'memory') return;
      child.off('message', onMessage);
      resolve(msg);
    };
    child.on('message', onMessage);
    child.send({ type: 'memory', reset });
  });
}

/** The CSV, generated row by row as the request body is read. */
function csvStream(rows: number): Readable {
  let i = 0;
  return Readable.from(
    (function* () {
      yield 'telefone;nome;tags;plano;cidade\n';
      while (i < rows) {
        const lines: string[] = [];
        for (let j = 0; j < 1_000 && i < rows; j++, i++) {
          const digits = String(i).padStart(8, '0');
          lines.push(`(11) 9${digits.slice(0, 4)}-${digits.slice(4)};Cliente ${i} da Silva;"lead|lote-${i % 10}";${i % 3 ? 'mensal' : 'anual'};São Paulo`);
        }
        yield `${lines.join('\n')}\n`;
      }
    })(),
    { objectMode: false },
  );
}

function post(port: number, path: string, key: string, body: Readable): Promise<{ status: number; body: unknown; bytes: number }> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'text/csv' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown, bytes }));
    });
    req.on('error', reject);
    body.on('data', (chunk: Buffer | string) => {
      bytes += Buffer.byteLength(chunk);
    });
    body.pipe(req);
  });
}

async function getJson(port: number, path: string, key: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function main(): Promise<void> {
  const rowsArg = process.argv.indexOf('--rows');
  const rows = rowsArg > 0 ? Number(process.argv[rowsArg + 1]) : 100_000;
  const baseUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const admin = postgres(baseUrl, { max: 1, onnotice: () => {} });
  const dbName = `zf_bench_contacts_${randomBytes(5).toString('hex')}`;
  await admin.unsafe(`create database ${dbName}`);
  const url = new URL(baseUrl);
  url.pathname = `/${dbName}`;
  let child: ChildProcess | undefined;
  const sql = postgres(url.toString(), { max: 2, onnotice: () => {} });
  try {
    const handle = await openDb({ url: url.toString(), poolSize: 2 });
    await handle.migrate();
    const { tenant, apiKey } = await createTenant(handle.db, { name: 'Bench' });
    await handle.close();

    child = fork(__filename, ['--role', 'api'], { execArgv: process.execArgv, env: { ...process.env, DATABASE_URL: url.toString() }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const port = await new Promise<number>((resolve, reject) => {
      child!.once('message', (msg: ApiMessage) => resolve(Number(msg.port)));
      child!.once('exit', (code) => reject(new Error(`API process exited (${code})`)));
    });
    await new Promise((r) => setTimeout(r, 500));
    const before = await ask(child, true);

    // 1. The import.
    const started = performance.now();
    const answer = await post(port, '/api/contacts/import', apiKey, csvStream(rows));
    const uploadedMs = performance.now() - started;
    if (answer.status !== 202 && answer.status !== 200) throw new Error(`import answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    const importId = (answer.body as { importId: string }).importId;
    let result: Record<string, unknown>;
    for (;;) {
      result = (await getJson(port, `/api/contacts/imports/${importId}`, apiKey)).body;
      if (result.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const importedMs = performance.now() - started;
    const after = await ask(child);
    process.stdout.write(
      [
        `import of ${rows} rows (${mb(answer.bytes)} of CSV, streamed in chunks): HTTP ${answer.status} after ${(uploadedMs / 1000).toFixed(1)} s, ${String(result.status)} after ${(importedMs / 1000).toFixed(1)} s`,
        `  counts: rows ${String(result.rows)}, imported ${String(result.imported)}, updated ${String(result.updated)}, duplicates ${String(result.duplicates)}, errors ${String(result.errorCount)}`,
        `  API process RSS: ${mb(before.rss!)} before, peak ${mb(after.peakRss!)} during (+${mb(after.peakRss! - before.rss!)}), ${mb(after.rss!)} after; heap used ${mb(after.heapUsed!)}`,
        '',
      ].join('\n'),
    );

    // 2. The lists at that size: activity for two thirds, tags, a few opt-outs.
    await sql`update contacts set
        last_inbound_at = case when random() < 0.67 then now() - random() * interval '180 days' end,
        tags = case when random() < 0.1 then tags || '{vip}'::text[] else tags end,
        opted_out_at = case when random() < 0.01 then now() - random() * interval '30 days' end
      where tenant_id = ${tenant.id}`;
    await sql`vacuum analyze contacts`;
    const [deep] = await sql<Array<{ at: string; id: string }>>`
      select to_char(last_activity_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, id::text from contacts
      where tenant_id = ${tenant.id} and last_activity_at is not null order by last_activity_at desc nulls last, id offset 50000 limit 1`;
    const deepCursor = Buffer.from(JSON.stringify([deep.at, deep.id])).toString('base64url');
    // The statements listContacts runs, captured as drizzle sends them, then EXPLAINed as they are.
    const statements: Array<{ query: string; params: unknown[] }> = [];
    const logged = drizzle(sql, { schema, logger: { logQuery: (query: string, params: unknown[]) => statements.push({ query, params }) } }) as unknown as Db;
    const scenarios: Array<{ name: string; path: string }> = [
      { name: 'first page', path: '/api/contacts?limit=50' },
      { name: 'a page 50,000 rows in (cursor)', path: `/api/contacts?limit=50&cursor=${deepCursor}` },
      { name: 'name: a common word ("cliente")', path: '/api/contacts?q=cliente' },
      { name: 'name: two words ("cliente 4242")', path: '/api/contacts?q=cliente%204242' },
      { name: 'name: no match ("zuleica")', path: '/api/contacts?q=zuleica' },
      { name: 'tag (10%)', path: '/api/contacts?tag=vip' },
      { name: 'tag nobody has', path: '/api/contacts?tag=none' },
      { name: 'phone prefix', path: '/api/contacts?q=(11)%2090001-2' },
      { name: 'opted out (1%)', path: '/api/contacts?optedOut=true' },
      { name: 'inactive 90 days', path: '/api/contacts?inactiveSince=90d' },
      { name: 'opt-outs page', path: '/api/opt-outs?limit=50' },
    ];
    const [{ n }] = await sql<Array<{ n: number }>>`select count(*)::int as n from contacts where tenant_id = ${tenant.id}`;
    process.stdout.write(`GET /api/contacts at ${n} contacts of one tenant: each statement's plan and time (EXPLAIN ANALYZE), HTTP median of 20\n`);
    for (const scenario of scenarios) {
      const url = new URL(scenario.path, 'http://x');
      statements.length = 0;
      if (url.pathname === '/api/opt-outs') {
        await listOptedOutContacts(logged, { tenantId: tenant.id, limit: 51 });
      } else {
        const q = url.searchParams;
        const cursor = q.get('cursor');
        await listContacts(logged, {
          tenantId: tenant.id,
          filters: {
            ...parseContactSearch(q.get('q') ?? ''),
            tags: q.get('tag') ? [q.get('tag')!] : undefined,
            optedOut: q.get('optedOut') ? q.get('optedOut') === 'true' : undefined,
            inactiveSince: q.get('inactiveSince') ? new Date(Date.now() - 90 * 86_400_000) : undefined,
          },
          after: cursor ? decodeCursor(cursor) : undefined,
          limit: 51,
        });
      }
      const plans: string[] = [];
      let total = 0;
      for (const statement of [...statements]) {
        const plan = await sql.unsafe<Array<{ 'QUERY PLAN': string }>>(`explain (analyze, buffers, costs off) ${statement.query}`, statement.params as never[]);
        const lines = plan.map((r) => r['QUERY PLAN']);
        const ms = Number(lines.find((l) => l.startsWith('Execution Time'))?.replace(/[^\d.]/g, '') ?? 0);
        total += ms;
        const nodes = lines
          .filter((l) => /(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan|CTE Scan) /.test(l))
          .map((l) => l.trim().replace(/^->\s*/, '').replace(/\s+\(actual.*$/, '').replace(/ on contacts.*$/, '').replace(/^(.*) using /, '$1 '));
        const buffers = lines.find((l) => l.trim().startsWith('Buffers'))?.trim().replace('Buffers: shared ', '') ?? '';
        plans.push(`${nodes.join(' + ')} [${ms.toFixed(2)} ms, ${buffers}]`);
      }
      const timings: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        const res = await getJson(port, scenario.path, apiKey);
        timings.push(performance.now() - t0);
        if (res.status !== 200) throw new Error(`${scenario.path}: ${res.status} ${JSON.stringify(res.body)}`);
      }
      timings.sort((a, b) => a - b);
      process.stdout.write(`  ${scenario.name.padEnd(34)} SQL ${total.toFixed(2).padStart(6)} ms  HTTP ${timings[10].toFixed(1).padStart(5)} ms  ${plans.join('; then ')}\n`);
    }
  } finally {
    if (child) {
      child.send({ type: 'stop' });
      await new Promise((r) => child!.once('exit', r));
    }
    await sql.end();
    const cleanup = postgres(baseUrl, { max: 1, onnotice: () => {} });
    await cleanup.unsafe(`drop database if exists ${dbName} with (force)`);
    await cleanup.end();
    await admin.end();
  }
}

if (process.argv.includes('--role')) {
  runApiRole().catch((err: unknown) => {
    process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
      process.exit(1);
    },
  );
}
