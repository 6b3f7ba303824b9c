/**
 * CSV imports (POST /api/contacts/import) on real PostgreSQL/PGlite through the HTTP API: bad
 * rows reported with the file's line (a quoted cell spanning lines counts its lines), phones
 * normalised and duplicates merged (the later row wins), every other column a variable,
 * `;` files in Latin-1, multipart uploads, 413 past the size limit, small files answered at
 * once and bigger ones as a job followed to completion, imports left running by a lost
 * process marked failed, and another tenant's import not found.
 */
import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { contactImportMembers, contactImports, contacts } from '../../src/db/schema';
import { failInterruptedImports, INTERRUPTED_FAILURE } from '../../src/services/contactImport';
import { createTenant } from '../../src/services/tenants';
import { getJson } from '../support/http';
import { eventually, startStack, type Stack } from '../support/stack';

describe('contact imports', () => {
  let stack: Stack;
  let key: string;
  let tenantId: string;
  const SYNC_ROWS = 10_000;

  beforeAll(async () => {
    stack = await startStack({ worker: false, env: { CONTACT_IMPORT_MAX_BYTES: String(2 * 1024 * 1024), CONTACT_IMPORT_SYNC_ROWS: String(SYNC_ROWS) } });
    ({ apiKey: key, tenant: { id: tenantId } } = await createTenant(stack.db.db, { name: 'Loja Import' }));
  });
  afterAll(() => stack.close());

  const upload = (body: RequestInit['body'], contentType: string | undefined, apiKey = key) =>
    getJson(`${stack.url}/api/contacts/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, ...(contentType ? { 'content-type': contentType } : {}) },
      body,
    });
  const get = (path: string, apiKey = key) => getJson(`${stack.url}${path}`, { headers: { authorization: `Bearer ${apiKey}` } });
  const contactOf = async (phone: string) =>
    (await stack.db.db.select().from(contacts).where(and(eq(contacts.tenantId, tenantId), eq(contacts.phone, phone))))[0];

  it('imports rows, reports bad ones with their file line, merges duplicates and keeps other columns as variables', async () => {
    const csv = [
      'Telefone,Nome,Tags,Plano,Data de Nascimento', // line 1
      '(11) 98888-0001,Ana Souza,"vip;sp",anual,1990-01-01', // 2
      '+55 31 8888-0002,João,lead|mg,,', // 3: Evolution's 12-digit form: stored with the ninth digit
      'abc,Sem Telefone,,,', // 4: not a phone
      '5511988880003,"Bia', // 5: a quoted name over two lines
      'Lima",x,mensal,', // 6
      ',Vazio,,,', // 7: no phone
      '11988880001,Ana S.,novo,,', // 8: the same phone as line 2: merged, this row wins
      '5511988880004,Carla,,semestral,,,extra', // 9: more cells than the header
      '', // 10: an empty line is skipped, and still counts as a line
      '5511988880005,"Dora ""D"" Dias",,,', // 11
      '5511988880006,"Nunca fecha,,,', // 12: a quote left open to the end
      '5511988880007,Eva,,,',
    ].join('\r\n');
    const res = await upload(csv, 'text/csv; charset=utf-8');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'completed', rows: 9, imported: 4, updated: 0, duplicates: 1, errorCount: 4 });
    expect(res.body.errors).toEqual([
      { line: 4, reason: 'phone "abc" is not a phone number' },
      { line: 7, reason: 'phone is empty' },
      { line: 9, reason: '7 columns, the header has 5' },
      { line: 12, reason: 'a quote opened on line 12 is never closed' },
    ]);

    const ana = await contactOf('5511988880001');
    expect(ana).toMatchObject({ name: 'Ana S.', variables: { plano: 'anual', data_de_nascimento: '1990-01-01' } });
    expect([...ana!.tags].sort()).toEqual(['novo', 'sp', 'vip']);
    expect(await contactOf('5531988880002')).toMatchObject({ name: 'João', tags: expect.arrayContaining(['lead', 'mg']) });
    expect(await contactOf('5511988880003')).toMatchObject({ name: 'Bia\nLima', tags: ['x'], variables: { plano: 'mensal' } });
    expect((await contactOf('5511988880005'))?.name).toBe('Dora "D" Dias');
    expect(await contactOf('5511988880006')).toBeUndefined();

    // Every imported contact is a member of the import (a campaign audience may name it).
    const members = await stack.db.db.select().from(contactImportMembers).where(eq(contactImportMembers.importId, res.body.importId));
    expect(members).toHaveLength(4);
    expect((await get(`/api/contacts/imports/${res.body.importId}`)).body).toMatchObject({ status: 'completed', imported: 4, errorCount: 4 });

    // Importing again changes nothing new: idempotent, existing contacts counted as updated.
    const again = await upload(csv, 'text/csv');
    expect(again.body).toMatchObject({ status: 'completed', imported: 0, updated: 4, duplicates: 1, errorCount: 4 });
    expect((await contactOf('5511988880001'))?.name).toBe('Ana S.');
  });

  it('reads `;` files in Latin-1 and multipart uploads, and keeps stored values where a cell is empty', async () => {
    const latin1 = Buffer.from('celular;nome;cidade\n11 98888-1001;Conceição;São Paulo\n11 98888-1002;;Florianópolis\n', 'latin1');
    const res = await upload(latin1, 'text/csv');
    expect(res.body).toMatchObject({ status: 'completed', imported: 2, errorCount: 0 });
    expect(await contactOf('5511988881001')).toMatchObject({ name: 'Conceição', variables: { cidade: 'São Paulo' } });

    const form = new FormData();
    form.append('note', 'ignored');
    form.append('file', new Blob(['phone,name,cidade\n5511988881002,Zeca,\n'], { type: 'text/csv' }), 'clientes.csv');
    const multipart = await upload(form, undefined);
    expect(multipart.status).toBe(200);
    expect(multipart.body).toMatchObject({ status: 'completed', fileName: 'clientes.csv', imported: 0, updated: 1 });
    expect(await contactOf('5511988881002')).toMatchObject({ name: 'Zeca', variables: { cidade: 'Florianópolis' } });
  });

  it('refuses a file without a phone column, another content type, a form without the file, and a file over the limit', async () => {
    const noPhone = await upload('nome,email\nAna,a@x.com\n', 'text/csv');
    expect(noPhone.status).toBe(400);
    expect(noPhone.body.error.details[0].path).toBe('file');
    expect((await upload('{"phone":"1"}', 'application/json')).status).toBe(400);
    const form = new FormData();
    form.append('other', 'x');
    const noFile = await upload(form, undefined);
    expect(noFile.status).toBe(400);
    expect(noFile.body.error.message).toContain('"file"');
    const big = `phone,name\n${'5511988880001,Ana\n'.repeat(130_000)}`; // over 2 MB
    const tooLarge = await upload(big, 'text/csv');
    expect(tooLarge.status).toBe(413);
    // Chunked (no Content-Length): cut off while streaming.
    const chunks = [Buffer.from('phone,name\n'), ...Array.from({ length: 40 }, () => Buffer.from('5511988880001,Ana\n'.repeat(4_000)))];
    const stream = new ReadableStream({
      pull(controller) {
        const next = chunks.shift();
        if (next) controller.enqueue(next);
        else controller.close();
      },
    });
    const streamed = await fetch(`${stack.url}/api/contacts/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'text/csv' },
      body: stream,
      duplex: 'half',
    } as RequestInit).then(
      (r) => r.status,
      () => -1, // the server may close the connection before the client has sent everything
    );
    expect(streamed).toBe(413);
  });

  it('answers up to the row limit at once and makes a job of a bigger file, followed to completion', async () => {
    const rows = (n: number, from: number) => Array.from({ length: n }, (_, i) => `55119${String(from + i).padStart(8, '0')},Cliente ${from + i},lote`).join('\n');
    const atLimit = await upload(`phone,name,tags\n${rows(SYNC_ROWS, 0)}\n`, 'text/csv');
    expect(atLimit.status).toBe(200);
    expect(atLimit.body).toMatchObject({ status: 'completed', rows: SYNC_ROWS, imported: SYNC_ROWS });

    const bigger = SYNC_ROWS + 2_000;
    const job = await upload(`phone,name,tags\n${rows(bigger, 50_000)}\nnot-a-phone,X,\n`, 'text/csv');
    expect(job.status).toBe(202);
    expect(job.body).toEqual({ importId: expect.any(String), status: 'running' });
    const done = await eventually(
      async () => {
        const r = await get(`/api/contacts/imports/${job.body.importId}`);
        return r.body.status !== 'running' && r.body;
      },
      60_000,
      'the import job',
    );
    expect(done).toMatchObject({ status: 'completed', rows: bigger + 1, imported: bigger, updated: 0, errorCount: 1, errors: [{ line: bigger + 2, reason: 'phone "not-a-phone" is not a phone number' }] });
    const [{ n }] = await stack.db.db
      .select({ n: sql<number>`count(*)::int` })
      .from(contactImportMembers)
      .where(eq(contactImportMembers.importId, job.body.importId));
    expect(n).toBe(bigger);
  }, 120_000);

  it("marks an import left running by a lost process failed, and hides another tenant's import", async () => {
    const [stale] = await stack.db.db
      .insert(contactImports)
      .values({ tenantId, status: 'running', heartbeatAt: sql`now() - interval '1 day'` })
      .returning();
    const [other] = await stack.db.db
      .insert(contactImports)
      .values({ tenantId, status: 'running', heartbeatAt: sql`now() - interval '1 day'` })
      .returning();
    const fresh = await stack.db.db.insert(contactImports).values({ tenantId, status: 'running' }).returning();
    // At start: every running import whose process stopped touching it.
    expect(await failInterruptedImports(stack.db.db, stack.config)).toBe(2);
    expect((await get(`/api/contacts/imports/${stale!.id}`)).body).toMatchObject({ status: 'failed', failure: INTERRUPTED_FAILURE });
    expect((await get(`/api/contacts/imports/${other!.id}`)).body.status).toBe('failed');
    // One still being touched stays running.
    expect((await get(`/api/contacts/imports/${fresh[0]!.id}`)).body.status).toBe('running');

    const b = await createTenant(stack.db.db, { name: 'Outra' });
    expect((await get(`/api/contacts/imports/${stale!.id}`, b.apiKey)).status).toBe(404);
    expect((await get(`/api/contacts/imports/${randomUUID()}`)).status).toBe(404);
    expect((await get('/api/contacts/imports/not-a-uuid')).status).toBe(400);
  });
});
