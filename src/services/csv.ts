/**
 * A streaming CSV reader for contact imports: RFC 4180 plus what spreadsheets write (CRLF,
 * LF or CR line ends, a BOM, `;` or tab as the delimiter, quotes inside unquoted cells kept
 * as they are). Text goes in chunk by chunk and whole records come out, each with the file
 * line it starts on (header = 1; a quoted cell that spans lines counts every one of them), so
 * an error names the line a person sees in an editor.
 *
 * Memory is bounded by the record being read: a cell past `maxCellChars` or a record past
 * `maxCells` stops collecting, and the record comes out with an `error` instead of its cells,
 * while reading goes on with the next record. A quote left open to the end of the file is an
 * error of the record it opened.
 */

export interface CsvRecord {
  /** The file line the record starts on (1-based). */
  line: number;
  cells: string[];
  /** Why the record cannot be used (then `cells` is incomplete). */
  error?: string;
}

export interface CsvReaderOptions {
  delimiter: string;
  maxCells: number;
  maxCellChars: number;
  /** false: count records only, collect no text (a cheap first pass). */
  collect?: boolean;
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const BOM = 0xfeff;

enum State {
  FieldStart,
  Unquoted,
  Quoted,
  /** A quote inside a quoted cell: the cell's end, or the first of a doubled quote. */
  QuoteSeen,
}

export class CsvReader {
  private readonly delimiter: number;
  private readonly collect: boolean;
  private state = State.FieldStart;
  private line = 1;
  private recordLine = 1;
  private quoteLine = 1;
  /** The record has begun: a character or a delimiter was read (an empty line has none). */
  private started = false;
  private cells: string[] = [];
  private field = '';
  private error: string | undefined;
  /** A CR was the last character: a LF right after it ends the same line. */
  private afterCr = false;
  private first = true;
  private out: CsvRecord[] = [];
  /** Records read so far (each counted once, errors included). */
  records = 0;

  constructor(private readonly options: CsvReaderOptions) {
    if (options.delimiter.length !== 1) throw new Error('CSV delimiter must be one character');
    this.delimiter = options.delimiter.charCodeAt(0);
    this.collect = options.collect ?? true;
  }

  /** Reads a chunk; returns the records it completed. */
  push(chunk: string): CsvRecord[] {
    const n = chunk.length;
    let i = 0;
    if (this.first && n > 0) {
      this.first = false;
      if (chunk.charCodeAt(0) === BOM) i = 1;
    }
    // Start of the run of plain characters not yet appended to the field (-1: none).
    let run = -1;
    for (; i < n; i++) {
      const c = chunk.charCodeAt(i);
      if (this.afterCr) {
        this.afterCr = false;
        if (c === LF) continue; // CRLF: the line already ended at the CR
      }
      switch (this.state) {
        case State.FieldStart:
          if (c === QUOTE) {
            this.state = State.Quoted;
            this.quoteLine = this.line;
            this.started = true;
          } else if (c === this.delimiter) {
            this.started = true;
            this.endField();
          } else if (c === LF || c === CR) {
            if (this.started) this.endField();
            this.endLine(c);
          } else {
            this.state = State.Unquoted;
            this.started = true;
            run = i;
          }
          break;
        case State.Unquoted:
          if (c === this.delimiter) {
            run = this.flush(chunk, run, i);
            this.endField();
            this.state = State.FieldStart;
          } else if (c === LF || c === CR) {
            run = this.flush(chunk, run, i);
            this.endField();
            this.endLine(c);
          } else if (run < 0) run = i;
          break;
        case State.Quoted:
          if (c === QUOTE) {
            run = this.flush(chunk, run, i);
            this.state = State.QuoteSeen;
          } else if (c === LF || c === CR) {
            // A line break inside a quoted cell: part of the cell (as LF), and a line of the file.
            run = this.flush(chunk, run, i);
            this.append('\n');
            this.line += 1;
            if (c === CR) this.afterCr = true;
          } else if (run < 0) run = i;
          break;
        case State.QuoteSeen:
          if (c === QUOTE) {
            this.append('"');
            this.state = State.Quoted;
          } else if (c === this.delimiter) {
            this.endField();
            this.state = State.FieldStart;
          } else if (c === LF || c === CR) {
            this.endField();
            this.endLine(c);
          } else {
            // `"a"b`: text after the closing quote joins the cell.
            this.state = State.Unquoted;
            run = i;
          }
          break;
      }
    }
    this.flush(chunk, run, n);
    return this.take();
  }

  /** The end of the input: the last record, if it had no line end. */
  end(): CsvRecord[] {
    if (this.state === State.Quoted) {
      this.error = `a quote opened on line ${this.quoteLine} is never closed`;
    }
    if (this.started) {
      this.endField();
      this.emit();
    }
    this.state = State.FieldStart;
    return this.take();
  }

  private take(): CsvRecord[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  private flush(chunk: string, run: number, end: number): number {
    if (run >= 0 && end > run) this.append(chunk.slice(run, end));
    return -1;
  }

  private append(text: string): void {
    if (!this.collect || this.error) return;
    if (this.field.length + text.length > this.options.maxCellChars) {
      this.error = `column ${this.cells.length + 1} is longer than ${this.options.maxCellChars} characters`;
      this.field = '';
      return;
    }
    this.field += text;
  }

  private endField(): void {
    if (this.collect && !this.error) {
      if (this.cells.length >= this.options.maxCells) {
        this.error = `more than ${this.options.maxCells} columns`;
      } else {
        this.cells.push(this.field);
      }
    }
    this.field = '';
  }

  private endLine(c: number): void {
    if (this.started) this.emit();
    this.state = State.FieldStart;
    this.line += 1;
    this.recordLine = this.line;
    if (c === CR) this.afterCr = true;
  }

  private emit(): void {
    this.records += 1;
    if (this.collect) this.out.push(this.error ? { line: this.recordLine, cells: [], error: this.error } : { line: this.recordLine, cells: this.cells });
    this.cells = [];
    this.field = '';
    this.error = undefined;
    this.started = false;
  }
}

/**
 * The delimiter of a CSV file from its first line: the most frequent of `,`, `;` and tab
 * outside quotes (Brazilian spreadsheets write `;`); `,` when there is none.
 */
export function detectDelimiter(firstLine: string): string {
  const counts = new Map<string, number>([
    [',', 0],
    [';', 0],
    ['\t', 0],
  ]);
  let quoted = false;
  for (const ch of firstLine) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && counts.has(ch)) counts.set(ch, counts.get(ch)! + 1);
    else if (!quoted && (ch === '\n' || ch === '\r')) break;
  }
  let best = ',';
  for (const [ch, n] of counts) if (n > counts.get(best)!) best = ch;
  return best;
}
