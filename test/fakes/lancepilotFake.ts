/**
 * Loopback fake of LancePilot's v3 API (providers.md §4). The real response and error
 * shapes are unconfirmed; this fake answers Laravel-style (`{message}` errors, `{data: …}`
 * bodies) and can vary where the message id sits (`idShape`) so the client's extraction
 * fallbacks can be exercised.
 *
 * Routes live under `/api/v3`, so point clients at `fake.baseUrl` (not `fake.url`).
 */
import { randomUUID } from 'node:crypto';
import { FakeServer, bearerToken, headerValue, type FakeResponse, type RecordedRequest, type RequestMatcher } from './fakeServer';

export type LancePilotSendKind = 'text' | 'image' | 'template';
export type LancePilotIdShape = 'data.id' | 'id' | 'data.message_id' | 'messages[0].id' | 'none';

export interface LancePilotSent {
  workspace: string;
  number: string;
  kind: LancePilotSendKind;
  body: Record<string, unknown>;
  /** The id the fake put in its answer (undefined with idShape 'none'). */
  providerMessageId?: string;
  receivedAt: number;
  idempotencyKey?: string;
}

export interface LancePilotFakeOptions {
  /** Default `lp-test-token`. */
  accessToken?: string;
  /** Existing workspace ids. Default `['ws-1']`. */
  workspaces?: string[];
  /** Numbers whose 24-hour window is open (can-send-free-message → true). */
  freeWindowOpen?: Iterable<string>;
  /** Answer for numbers not in `freeWindowOpen`. Default false. */
  defaultCanSend?: boolean;
  /** Where the message id sits in a send answer. Default 'data.id'. */
  idShape?: LancePilotIdShape;
  strict?: boolean;
  maxRecorded?: number;
  latencyMs?: number;
}

const PREFIX = '/api/v3';

export class LancePilotFake {
  readonly server: FakeServer;
  readonly sent: LancePilotSent[] = [];
  readonly workspaces: Set<string>;
  readonly freeWindowOpen: Set<string>;
  defaultCanSend: boolean;
  idShape: LancePilotIdShape;
  accessToken: string;

  constructor(opts: LancePilotFakeOptions = {}) {
    this.accessToken = opts.accessToken ?? 'lp-test-token';
    this.workspaces = new Set(opts.workspaces ?? ['ws-1']);
    this.freeWindowOpen = new Set(opts.freeWindowOpen ?? []);
    this.defaultCanSend = opts.defaultCanSend ?? false;
    this.idShape = opts.idShape ?? 'data.id';
    this.server = new FakeServer({ strict: opts.strict ?? true, maxRecorded: opts.maxRecorded, latencyMs: opts.latencyMs });

    const contact = `${PREFIX}/workspaces/:workspace/contacts/number/:number`;
    this.server.route('POST', `${contact}/messages/text`, (req, p) => this.guard(req, p.workspace) ?? this.handleSend(req, p, 'text'));
    this.server.route('POST', `${contact}/messages/image`, (req, p) => this.guard(req, p.workspace) ?? this.handleSend(req, p, 'image'));
    this.server.route('POST', `${contact}/template-messages`, (req, p) => this.guard(req, p.workspace) ?? this.handleSend(req, p, 'template'));
    this.server.route('GET', `${contact}/can-send-free-message`, (req, p) =>
      this.guard(req, p.workspace) ?? {
        status: 200,
        body: { data: { canSend: this.freeWindowOpen.has(p.number!) || this.defaultCanSend } },
      },
    );
    this.server.route('GET', `${PREFIX}/workspaces`, (req) => this.guard(req) ?? this.handleWorkspaces(req));
  }

  async start(): Promise<string> {
    return this.server.start();
  }
  close(): Promise<void> {
    return this.server.close();
  }
  get url(): string {
    return this.server.url;
  }
  /** Base URL for the client: `http://127.0.0.1:<port>/api/v3`. */
  get baseUrl(): string {
    return `${this.server.url}${PREFIX}`;
  }
  get requests(): RecordedRequest[] {
    return this.server.requests;
  }
  get unexpected(): RecordedRequest[] {
    return this.server.unexpected;
  }
  failNext(n: number, response: FakeResponse, matcher?: RequestMatcher): () => void {
    return this.server.failNext(n, response, matcher);
  }
  waitFor(predicate?: (req: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest> {
    return this.server.waitFor(predicate, timeoutMs);
  }
  reset(): void {
    this.server.reset();
    this.sent.length = 0;
  }

  private guard(req: RecordedRequest, workspace?: string): FakeResponse | undefined {
    if (bearerToken(req) !== this.accessToken) return { status: 401, body: { message: 'Unauthenticated.' } };
    if (workspace !== undefined && !this.workspaces.has(workspace)) return { status: 404, body: { message: 'Workspace not found.' } };
    return undefined;
  }

  private handleSend(req: RecordedRequest, p: Record<string, string>, kind: LancePilotSendKind): FakeResponse {
    const b = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
    const problem = validate(kind, b);
    if (problem) return { status: 422, body: { message: problem.message, errors: { [problem.field]: [problem.message] } } };

    const id = this.idShape === 'none' ? undefined : randomUUID();
    this.sent.push({
      workspace: p.workspace!,
      number: p.number!,
      kind,
      body: b,
      providerMessageId: id,
      receivedAt: req.receivedAt,
      idempotencyKey: headerValue(req, 'x-idempotency-key'),
    });
    const attributes = { type: kind, status: 'queued', number: p.number };
    let body: unknown;
    switch (this.idShape) {
      case 'data.id':
        body = { data: { id, type: 'messages', attributes } };
        break;
      case 'id':
        body = { id, ...attributes };
        break;
      case 'data.message_id':
        body = { data: { message_id: id, ...attributes } };
        break;
      case 'messages[0].id':
        body = { messages: [{ id }] };
        break;
      case 'none':
        body = { success: true };
        break;
    }
    return { status: 201, body };
  }

  private handleWorkspaces(req: RecordedRequest): FakeResponse {
    const perPage = Math.max(1, Number(req.query.per_page ?? 15) || 15);
    const search = req.query.search?.toLowerCase();
    const all = [...this.workspaces]
      .map((id) => ({ id, type: 'workspaces', attributes: { name: `Workspace ${id}` } }))
      .filter((w) => !search || w.attributes.name.toLowerCase().includes(search));
    return { status: 200, body: { data: all.slice(0, perPage), meta: { total: all.length, per_page: perPage, current_page: 1 } } };
  }
}

export async function startLancePilotFake(opts: LancePilotFakeOptions = {}): Promise<LancePilotFake> {
  const fake = new LancePilotFake(opts);
  await fake.start();
  return fake;
}

function validate(kind: LancePilotSendKind, b: Record<string, unknown>): { field: string; message: string } | undefined {
  switch (kind) {
    case 'text': {
      const body = (b.text as { body?: unknown } | undefined)?.body;
      return typeof body === 'string' && body !== '' ? undefined : { field: 'text.body', message: 'The text.body field is required.' };
    }
    case 'image':
      return typeof b.file === 'string' && b.file !== '' ? undefined : { field: 'file', message: 'The file field is required.' };
    case 'template':
      if (typeof b.template_id !== 'number' || !Number.isInteger(b.template_id)) {
        return { field: 'template_id', message: 'The template id field must be an integer.' };
      }
      return undefined;
  }
}
