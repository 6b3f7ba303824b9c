/**
 * CSV imports of contacts (`POST /api/contacts/import`), from a file the API spooled to disk.
 *
 * The file is read as a stream, never whole: a first pass counts its records, checks its
 * encoding (UTF-8, else Latin-1 as older spreadsheets write) and finds its delimiter from
 * the header (`,`, `;` or tab); the second reads the rows and upserts them in batches of
 * CONTACT_IMPORT_BATCH distinct phones, one statement each, recording every contact as a
 * member of the import (a campaign's audience may be `{importId}`). A file of at most
 * CONTACT_IMPORT_SYNC_ROWS data rows is imported before the answer; a bigger one becomes a job
 * of this process, followed through contact_imports (its counts, its first 1,000 refused rows
 * with their file line, `failed` with why).
 *
 * Columns: `phone` (or `telefone`, `celular`, `whatsapp`), optional `name` (`nome`) and `tags`
 * (split on `;`, `|` or `,` inside the cell), every other one a variable keyed by its header
 * as a template key (`{{data_de_nascimento}}`). Phones are normalised as everywhere
 * (phoneFromClient). A phone named twice in a file is one contact: the later row wins (its
 * non-empty name and variables), tags add up, and it counts once in `duplicates`. Importing
 * again is idempotent.
 */
import fs from 'node:fs';
import type { Config } from '../config';
import type { Db } from '../db/client';
import {
  addImportProgress,
  failStaleImports,
  finishContactImport,
  getContactImport,
  insertContactImport,
  touchContactImport,
  type ContactImportRow,
} from '../db/queries/contactImports';
import { upsertImportedContacts, type ImportedContact } from '../db/queries/contacts';
import { DomainError } from '../domain/errors';
import { phoneFromClient } from '../domain/phone';
import type { Logger } from '../log';
import { CsvReader, detectDelimiter, type CsvRecord } from './csv';
import { CONTACT_LIMITS, cleanTag, uniqueTags, variableKey, variableKeyProblem } from './contacts';

/** Refused rows kept on an import (error_count counts them all). */
export const MAX_KEPT_ERRORS = 1_000;
/** Columns a file may have. */
export const MAX_IMPORT_COLUMNS = 100;
/** Tags one row may add. */
const MAX_ROW_TAGS = 50;

/** Why an import left `running` by a process that is gone failed. */
export const INTERRUPTED_FAILURE = 'interrupted: upload again; imports are idempotent';

const PHONE_COLUMNS = ['phone', 'whatsapp', 'celular', 'telefone', 'fone', 'mobile'];
const NAME_COLUMNS = ['name', 'nome'];
const TAG_COLUMNS = ['tags', 'tag', 'etiquetas'];

type Encoding = 'utf8' | 'latin1';

interface FileShape {
  encoding: Encoding;
  delimiter: string;
  /** Records, the header included. */
  records: number;
}

/** How a header maps to a contact. */
export interface ImportColumns {
  phone: number;
  name?: number;
  tags?: number;
  variables: Array<{ index: number; key: string }>;
  width: number;
}

/** The header row's columns, or Invalid naming what is wrong (field `file`). */
export function importColumns(header: string[]): ImportColumns {
  const keys = header.map((h) => variableKey(h.replace(/\u0000/g, '')));
  const pick = (names: string[]) => {
    for (const name of names) {
      const i = keys.indexOf(name);
      if (i >= 0) return i;
    }
    return undefined;
  };
  const phone = pick(PHONE_COLUMNS);
  if (phone === undefined) {
    throw new DomainError('Invalid', `the header row (line 1) needs a phone column (phone, telefone or celular); it has: ${header.slice(0, 20).join(', ')}`, 'file');
  }
  const name = pick(NAME_COLUMNS);
  const tags = pick(TAG_COLUMNS);
  const variables: ImportColumns['variables'] = [];
  const seen = new Map<string, string>();
  keys.forEach((key, index) => {
    if (index === phone || index === name || index === tags) return;
    if (!key) return; // an unnamed column (a trailing delimiter): nothing to key it by
    const problem = variableKeyProblem(key);
    if (problem) throw new DomainError('Invalid', `column "${header[index]}" ${problem}`, 'file');
    const earlier = seen.get(key);
    if (earlier !== undefined) throw new DomainError('Invalid', `columns "${earlier}" and "${header[index]}" are both {{${key}}}`, 'file');
    seen.set(key, header[index]);
    variables.push({ index, key });
  });
  return { phone, name, tags, variables, width: header.length };
}

/** One data row as a contact, or why it is refused. Pure. */
export function rowToContact(columns: ImportColumns, cells: string[]): ImportedContact | { reason: string } {
  const cell = (i: number | undefined) => (i === undefined ? '' : (cells[i] ?? '').replace(/\u0000/g, '').trim());
  if (cells.length > columns.width && cells.slice(columns.width).some((c) => c.trim() !== '')) {
    return { reason: `${cells.length} columns, the header has ${columns.width}` };
  }
  const rawPhone = cell(columns.phone);
  if (!rawPhone) return { reason: 'phone is empty' };
  const phone = phoneFromClient(rawPhone);
  if (!phone) return { reason: `phone "${rawPhone.slice(0, 40)}" is not a phone number` };
  const name = cell(columns.name);
  if (name.length > CONTACT_LIMITS.nameChars) return { reason: `name is longer than ${CONTACT_LIMITS.nameChars} characters` };
  const tags: string[] = [];
  for (const part of cell(columns.tags).split(/[;|,]/)) {
    if (!part.trim()) continue;
    const { tag, problem } = cleanTag(part);
    if (problem) return { reason: `tag ${problem}` };
    tags.push(tag);
  }
  if (tags.length > MAX_ROW_TAGS) return { reason: `more than ${MAX_ROW_TAGS} tags` };
  const variables: Record<string, string> = {};
  for (const { index, key } of columns.variables) {
    const value = cell(index);
    if (value) variables[key] = value;
  }
  return { phone, name: name || null, tags: uniqueTags(tags), variables };
}

/** A later row of the same phone merged into an earlier one: its name and variables win, tags add up. */
function mergeRows(earlier: ImportedContact, later: ImportedContact): ImportedContact {
  return {
    phone: earlier.phone,
    name: later.name ?? earlier.name,
    tags: uniqueTags([...earlier.tags, ...later.tags]),
    variables: { ...earlier.variables, ...later.variables },
  };
}

/** Reads the file once: its records (counted, not kept), encoding and delimiter. */
async function scanFile(path: string): Promise<FileShape> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let utf8 = true;
  let counter: CsvReader | undefined;
  let delimiter = ',';
  for await (const chunk of fs.createReadStream(path, { highWaterMark: 64 * 1024 })) {
    const bytes = chunk as Buffer;
    if (utf8) {
      try {
        decoder.decode(bytes, { stream: true });
      } catch {
        utf8 = false;
      }
    }
    // Latin-1 maps each byte to one character: quotes, delimiters and line ends stay where
    // they are in UTF-8 too, so the count is right whatever the encoding.
    const text = bytes.toString('latin1');
    if (!counter) {
      delimiter = detectDelimiter(text.replace(/^\uFEFF|^\u00ef\u00bb\u00bf/, ''));
      counter = new CsvReader({ delimiter, maxCells: MAX_IMPORT_COLUMNS, maxCellChars: CONTACT_LIMITS.variableValueChars, collect: false });
    }
    counter.push(text);
  }
  if (utf8) {
    try {
      decoder.decode();
    } catch {
      utf8 = false;
    }
  }
  counter?.end();
  return { encoding: utf8 ? 'utf8' : 'latin1', delimiter, records: counter?.records ?? 0 };
}

/** The file's records, streamed. */
async function* readRecords(path: string, shape: FileShape): AsyncGenerator<CsvRecord> {
  const reader = new CsvReader({ delimiter: shape.delimiter, maxCells: MAX_IMPORT_COLUMNS, maxCellChars: CONTACT_LIMITS.variableValueChars });
  const stream = fs.createReadStream(path, { encoding: shape.encoding, highWaterMark: 64 * 1024 });
  try {
    for await (const chunk of stream) yield* reader.push(chunk as string);
    yield* reader.end();
  } finally {
    stream.destroy();
  }
}

/** An import as the API shows it. */
export function importView(row: ContactImportRow) {
  return {
    importId: row.id,
    status: row.status,
    fileName: row.fileName,
    rows: row.rows,
    imported: row.imported,
    updated: row.updated,
    duplicates: row.duplicates,
    errorCount: row.errorCount,
    errors: row.errors,
    failure: row.failure,
    createdAt: row.createdAt.toISOString(),
    finishedAt: row.finishedAt?.toISOString() ?? null,
  };
}

export type ImportView = ReturnType<typeof importView>;

/** Marks failed every import whose process is gone (its heartbeat older than CONTACT_IMPORT_STALE_AFTER); at start. */
export async function failInterruptedImports(db: Db, config: Pick<Config, 'CONTACT_IMPORT_STALE_AFTER'>): Promise<number> {
  return failStaleImports(db, { staleAfterMs: config.CONTACT_IMPORT_STALE_AFTER, failure: INTERRUPTED_FAILURE });
}

type ImportConfig = Pick<Config, 'CONTACT_IMPORT_SYNC_ROWS' | 'CONTACT_IMPORT_BATCH' | 'CONTACT_IMPORT_STALE_AFTER'>;

export class ContactImporter {
  /** Imports running in the background of this process. */
  private readonly jobs = new Map<string, Promise<void>>();

  constructor(private readonly deps: { db: Db; log: Logger; config: ImportConfig }) {}

  /**
   * Imports a spooled file, which this call then owns (it is deleted when read, or at once
   * when refused). Small files: the finished import. Bigger ones: the running import, whose
   * job goes on after the answer.
   */
  async importFile(tenantId: string, file: { path: string; fileName?: string }): Promise<{ job: boolean; import: ImportView }> {
    let owned = true;
    try {
      const shape = await scanFile(file.path);
      let header: CsvRecord | undefined;
      for await (const record of readRecords(file.path, shape)) {
        header = record;
        break;
      }
      if (!header) throw new DomainError('Invalid', 'is empty: a header row with a phone column is required', 'file');
      if (header.error) throw new DomainError('Invalid', `header row (line ${header.line}): ${header.error}`, 'file');
      const columns = importColumns(header.cells);
      const fileName = file.fileName ? file.fileName.replace(/\u0000/g, '').slice(0, 200) : null;
      const row = await insertContactImport(this.deps.db, { tenantId, fileName });
      const job = shape.records - 1 > this.deps.config.CONTACT_IMPORT_SYNC_ROWS;
      owned = false;
      const run = this.run(tenantId, row.id, file.path, shape, columns);
      if (job) {
        this.jobs.set(row.id, run);
        void run.finally(() => this.jobs.delete(row.id));
        return { job: true, import: importView(row) };
      }
      await run;
      const done = await this.get(tenantId, row.id);
      // The file was fine (its rows' problems are in `errors`): only the database can fail it here.
      if (done.status === 'failed') throw new DomainError('Unavailable', `import ${row.id} ${done.failure ?? 'failed'}`);
      return { job: false, import: done };
    } finally {
      if (owned) await fs.promises.rm(file.path, { force: true });
    }
  }

  /** An import of this tenant; one whose process is gone is marked failed as it is read. */
  async get(tenantId: string, importId: string): Promise<ImportView> {
    let row = await getContactImport(this.deps.db, { tenantId, importId });
    if (row?.status === 'running' && !this.jobs.has(importId)) {
      const failed = await failStaleImports(this.deps.db, {
        staleAfterMs: this.deps.config.CONTACT_IMPORT_STALE_AFTER,
        failure: INTERRUPTED_FAILURE,
        importId,
      });
      if (failed) row = await getContactImport(this.deps.db, { tenantId, importId });
    }
    if (!row) throw new DomainError('NotFound', `import ${importId} not found`);
    return importView(row);
  }

  /** Resolves when the background imports of this process have ended (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.jobs.values()]);
  }

  /** Reads the rows and writes them batch by batch; the import ends completed, or failed with why. Never throws. */
  private async run(tenantId: string, importId: string, path: string, shape: FileShape, columns: ImportColumns): Promise<void> {
    const { db, log, config } = this.deps;
    const heartbeat = setInterval(() => {
      touchContactImport(db, { importId }).catch((err: unknown) => log.warn({ err, importId }, 'contact import heartbeat failed'));
    }, Math.max(1, Math.floor(config.CONTACT_IMPORT_STALE_AFTER / 4)));
    heartbeat.unref();
    let keptErrors = 0;
    let batch = new Map<string, ImportedContact>();
    let pending = { rows: 0, duplicates: 0, errorCount: 0, errors: [] as Array<{ line: number; reason: string }> };
    const flush = async () => {
      const counts = await upsertImportedContacts(db, { tenantId, importId, rows: [...batch.values()] });
      await addImportProgress(db, {
        importId,
        rows: pending.rows,
        imported: counts.imported,
        updated: counts.updated,
        duplicates: pending.duplicates + counts.repeated,
        errorCount: pending.errorCount,
        errors: pending.errors,
      });
      batch = new Map();
      pending = { rows: 0, duplicates: 0, errorCount: 0, errors: [] };
    };
    try {
      let header = true;
      for await (const record of readRecords(path, shape)) {
        if (header) {
          header = false;
          continue;
        }
        pending.rows += 1;
        const contact = record.error ? { reason: record.error } : rowToContact(columns, record.cells);
        if ('reason' in contact) {
          pending.errorCount += 1;
          if (keptErrors < MAX_KEPT_ERRORS) {
            keptErrors += 1;
            pending.errors.push({ line: record.line, reason: contact.reason });
          }
          continue;
        }
        const earlier = batch.get(contact.phone);
        if (earlier) pending.duplicates += 1;
        batch.set(contact.phone, earlier ? mergeRows(earlier, contact) : contact);
        if (batch.size >= config.CONTACT_IMPORT_BATCH) await flush();
      }
      await flush();
      await finishContactImport(db, { importId, status: 'completed' });
      log.info({ tenantId, importId }, 'contact import completed');
    } catch (err) {
      log.error({ err, tenantId, importId }, 'contact import failed');
      const message = (err as Error)?.message ?? String(err);
      await finishContactImport(db, { importId, status: 'failed', failure: `import stopped: ${message.slice(0, 300)}` }).catch((e: unknown) =>
        log.error({ err: e, importId }, 'contact import could not be marked failed'),
      );
    } finally {
      clearInterval(heartbeat);
      await fs.promises.rm(path, { force: true }).catch(() => undefined);
    }
  }
}
