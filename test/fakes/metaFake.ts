/**
 * Loopback fake of the Meta WhatsApp Cloud API (providers.md §2.7, §2.8).
 *
 * Routes: POST /:version/:phoneNumberId/messages and GET /:version/:phoneNumberId.
 * Bad bearer token → 401 OAuthException 190; unknown phone number id → 400 code 100;
 * `failNextWithCode` scripts any Meta error code on the next sends.
 *
 * Media of inbound messages (`addMedia`): GET /:version/:mediaId answers
 * `{messaging_product, url, mime_type, sha256, file_size, id}`, and the `url` (shaped like
 * Meta's lookaside URL, on this server) serves the bytes, both only with the bearer token.
 */
import { createHash, randomBytes } from 'node:crypto';
import { FakeServer, bearerToken, headerValue, type FakeResponse, type RecordedRequest, type RequestMatcher } from './fakeServer';

export interface MetaSent {
  version: string;
  phoneNumberId: string;
  /** `to` exactly as posted (e.g. `+5511999990001`). */
  to: string;
  waId: string;
  type: string;
  body: Record<string, unknown>;
  providerMessageId: string;
  receivedAt: number;
  idempotencyKey?: string;
}

export interface MetaMedia {
  mimeType: string;
  data: Buffer;
}

export interface MetaFakeOptions {
  /** Default `meta-test-token`. */
  accessToken?: string;
  /** Default `['600000000000001']`. */
  phoneNumberIds?: string[];
  /** wa_ids (digits) whose 24-hour window is closed: non-template sends → 131047. */
  closedWindows?: Iterable<string>;
  /** Unknown routes → 404 + `unexpected`. Default true. */
  strict?: boolean;
  maxRecorded?: number;
  latencyMs?: number;
}

/** Meta's titles for the codes tests usually script. */
const CODE_TEXT: Record<number, { message: string; details?: string; type?: string }> = {
  0: { message: 'AuthException', type: 'OAuthException' },
  1: { message: 'An unknown error occurred' },
  2: { message: 'Service temporarily unavailable' },
  4: { message: 'Application request limit reached' },
  100: { message: 'Invalid parameter' },
  190: { message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException' },
  368: { message: 'Temporarily blocked for policies violations' },
  80007: { message: 'Rate limit issues' },
  130429: { message: 'Rate limit hit', details: 'Cloud API message throughput has been reached.' },
  131000: { message: 'Something went wrong' },
  131008: { message: 'Required parameter is missing' },
  131009: { message: 'Parameter value is not valid' },
  131016: { message: 'Service unavailable' },
  131026: { message: 'Message Undeliverable', details: 'Message failed to send because the recipient is unable to receive it.' },
  131047: {
    message: 'Re-engagement message',
    details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
  },
  131048: { message: 'Spam rate limit hit' },
  131049: { message: 'This message was not delivered to maintain healthy ecosystem engagement.' },
  131050: { message: 'Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business' },
  131051: { message: 'Unsupported message type' },
  131056: { message: '(Business Account, Consumer Account) pair rate limit hit' },
  131057: { message: 'Account has been put in maintenance mode' },
  132000: { message: 'Number of parameters does not match the expected number of params' },
  132001: { message: 'Template name does not exist in the translation' },
};

export function metaErrorBody(code: number, opts: { message?: string; details?: string; type?: string; subcode?: number } = {}) {
  const known = CODE_TEXT[code];
  const title = opts.message ?? known?.message ?? 'Error';
  const details = opts.details ?? known?.details ?? title;
  return {
    error: {
      message: `(#${code}) ${title}`,
      type: opts.type ?? known?.type ?? 'OAuthException',
      code,
      ...(opts.subcode !== undefined ? { error_subcode: opts.subcode } : {}),
      error_data: { messaging_product: 'whatsapp', details },
      fbtrace_id: `A${randomBytes(8).toString('hex')}`,
    },
  };
}

const MESSAGE_TYPES = new Set(['text', 'image', 'video', 'audio', 'document', 'sticker', 'interactive', 'template', 'location', 'contacts', 'reaction']);

export class MetaFake {
  readonly server: FakeServer;
  readonly sent: MetaSent[] = [];
  readonly closedWindows: Set<string>;
  readonly phoneNumberIds: Set<string>;
  /** Media of inbound messages by media id. */
  readonly media = new Map<string, MetaMedia>();
  accessToken: string;
  /** What GET /:id answers for status / quality_rating. */
  phoneStatus = { status: 'CONNECTED', quality_rating: 'GREEN' };
  private counter = 0;
  private readonly idSalt = randomBytes(4).toString('hex').toUpperCase();

  constructor(opts: MetaFakeOptions = {}) {
    this.accessToken = opts.accessToken ?? 'meta-test-token';
    this.phoneNumberIds = new Set(opts.phoneNumberIds ?? ['600000000000001']);
    this.closedWindows = new Set(opts.closedWindows ?? []);
    this.server = new FakeServer({ strict: opts.strict ?? true, maxRecorded: opts.maxRecorded, latencyMs: opts.latencyMs });
    this.server.route('POST', '/:version/:phoneNumberId/messages', (req, p) =>
      this.guard(req, p.phoneNumberId!) ?? this.handleSend(req, p.version!, p.phoneNumberId!),
    );
    // Before the Graph GET below, whose pattern would match this path too.
    this.server.route('GET', '/whatsapp_business/attachments', (req) => this.authorise(req) ?? this.handleDownload(req));
    this.server.route('GET', '/:version/:phoneNumberId', (req, p) => {
      const id = p.phoneNumberId!;
      if (this.media.has(id)) return this.authorise(req) ?? this.handleMediaInfo(id);
      return this.guard(req, id) ?? this.handleGet(req, id);
    });
  }

  /** Registers the file behind an inbound message's media id. */
  addMedia(mediaId: string, mimeType: string, data: Buffer): void {
    this.media.set(mediaId, { mimeType, data });
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

  /**
   * The next `n` sends (POST …/messages) fail with Meta error `code` and `httpStatus`
   * (default 400). `retryAfter` sets a `Retry-After` header.
   */
  failNextWithCode(
    code: number,
    httpStatus = 400,
    n = 1,
    opts: { message?: string; details?: string; retryAfter?: string; delayMs?: number } = {},
  ): () => void {
    return this.server.failNext(
      n,
      {
        status: httpStatus,
        body: metaErrorBody(code, opts),
        headers: opts.retryAfter !== undefined ? { 'retry-after': opts.retryAfter } : undefined,
        delayMs: opts.delayMs,
      },
      { method: 'POST', path: /\/messages$/ },
    );
  }

  private authorise(req: RecordedRequest): FakeResponse | undefined {
    return bearerToken(req) === this.accessToken ? undefined : { status: 401, body: metaErrorBody(190) };
  }

  private guard(req: RecordedRequest, phoneNumberId: string): FakeResponse | undefined {
    const denied = this.authorise(req);
    if (denied) return denied;
    if (!this.phoneNumberIds.has(phoneNumberId)) {
      return {
        status: 400,
        body: metaErrorBody(100, {
          message: `Unsupported post request. Object with ID '${phoneNumberId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
          type: 'GraphMethodException',
          subcode: 33,
        }),
      };
    }
    return undefined;
  }

  private handleSend(req: RecordedRequest, version: string, phoneNumberId: string): FakeResponse {
    const b = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
    if (b.messaging_product !== 'whatsapp') return invalid('The parameter messaging_product is required.');
    if (typeof b.to !== 'string' || b.to === '') return invalid('The parameter to is required.');
    const type = b.type;
    if (typeof type !== 'string' || !MESSAGE_TYPES.has(type)) return invalid(`Param type must be one of {${[...MESSAGE_TYPES].join(', ')}}`);
    if (typeof b[type] !== 'object' || b[type] === null) return invalid(`The parameter ${type} is required.`);
    const problem = validateContent(type, b[type] as Record<string, unknown>);
    if (problem) return { status: 400, body: metaErrorBody(problem.code, { details: problem.details }) };

    const waId = b.to.replace(/\D/g, '');
    if (type !== 'template' && this.closedWindows.has(waId)) return { status: 400, body: metaErrorBody(131047) };

    const id = this.newWamid(waId);
    this.sent.push({
      version,
      phoneNumberId,
      to: b.to,
      waId,
      type,
      body: b,
      providerMessageId: id,
      receivedAt: req.receivedAt,
      idempotencyKey: headerValue(req, 'x-idempotency-key'),
    });
    return {
      status: 200,
      body: {
        messaging_product: 'whatsapp',
        contacts: [{ input: b.to, wa_id: waId }],
        messages: [type === 'template' ? { id, message_status: 'accepted' } : { id }],
      },
    };
  }

  private handleGet(req: RecordedRequest, id: string): FakeResponse {
    const all: Record<string, unknown> = {
      verified_name: 'Loja Centro',
      display_phone_number: '+55 11 99999-0000',
      ...this.phoneStatus,
    };
    const fields = req.query.fields?.split(',').map((f) => f.trim()).filter(Boolean);
    const body: Record<string, unknown> = {};
    if (fields && fields.length > 0) {
      for (const f of fields) if (f in all) body[f] = all[f];
    } else {
      Object.assign(body, all);
    }
    body.id = id;
    return { status: 200, body };
  }

  private handleMediaInfo(id: string): FakeResponse {
    const file = this.media.get(id)!;
    const hash = createHash('sha256').update(file.data).digest('base64');
    const url = `${this.url}/whatsapp_business/attachments/?mid=${id}&ext=${Math.floor(Date.now() / 1000)}&hash=${encodeURIComponent(hash.slice(0, 16))}`;
    return {
      status: 200,
      body: { messaging_product: 'whatsapp', url, mime_type: file.mimeType, sha256: hash, file_size: String(file.data.length), id },
    };
  }

  /** The lookaside URL: the file's bytes (unknown or removed media: 404, as Meta answers). */
  private handleDownload(req: RecordedRequest): FakeResponse {
    const file = this.media.get(req.query.mid ?? '');
    if (!file) return { status: 404, body: 'Not Found', headers: { 'content-type': 'text/plain' } };
    return { status: 200, body: file.data, headers: { 'content-type': file.mimeType } };
  }

  private newWamid(waId: string): string {
    this.counter += 1;
    const raw = `HBgN${waId}FQIAERgS${this.idSalt}${this.counter.toString(16).toUpperCase().padStart(12, '0')}AA`;
    return `wamid.${Buffer.from(raw).toString('base64')}`;
  }
}

export async function startMetaFake(opts: MetaFakeOptions = {}): Promise<MetaFake> {
  const fake = new MetaFake(opts);
  await fake.start();
  return fake;
}

function invalid(details: string): FakeResponse {
  return { status: 400, body: metaErrorBody(100, { details }) };
}

function validateContent(type: string, c: Record<string, unknown>): { code: number; details: string } | undefined {
  switch (type) {
    case 'text':
      if (typeof c.body !== 'string' || c.body === '') return { code: 100, details: 'The parameter text.body is required.' };
      if (c.body.length > 4096) return { code: 100, details: 'Param text.body must be at most 4096 characters long.' };
      return undefined;
    case 'image':
    case 'video':
    case 'audio':
    case 'document':
    case 'sticker':
      if (typeof c.link !== 'string' && typeof c.id !== 'string') return { code: 100, details: `Param ${type} must contain either id or link` };
      return undefined;
    case 'template':
      if (typeof c.name !== 'string' || c.name === '') return { code: 100, details: 'The parameter template.name is required.' };
      if (typeof (c.language as { code?: unknown } | undefined)?.code !== 'string') {
        return { code: 100, details: 'The parameter template.language.code is required.' };
      }
      return undefined;
    case 'interactive': {
      const kind = c.type;
      const action = (c.action ?? {}) as Record<string, unknown>;
      if (kind === 'button') {
        const buttons = action.buttons;
        if (!Array.isArray(buttons) || buttons.length < 1 || buttons.length > 3) {
          return { code: 131009, details: 'Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: 3' };
        }
        for (const btn of buttons as Array<{ reply?: { title?: unknown } }>) {
          const title = btn.reply?.title;
          if (typeof title !== 'string' || title.length < 1 || title.length > 20) {
            return { code: 131009, details: 'Button title length invalid. Min length: 1, Max length: 20' };
          }
        }
        return undefined;
      }
      if (kind === 'list') {
        const sections = action.sections;
        if (typeof action.button !== 'string' || !Array.isArray(sections) || sections.length === 0) {
          return { code: 131009, details: 'The parameter interactive.action.sections is required.' };
        }
        const rows = (sections as Array<{ rows?: unknown[] }>).reduce((n, s) => n + (s.rows?.length ?? 0), 0);
        if (rows < 1 || rows > 10) return { code: 131009, details: 'Invalid number of rows. Min: 1, Max: 10' };
        return undefined;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}
