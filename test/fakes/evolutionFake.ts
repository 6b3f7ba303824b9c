/**
 * Loopback fake of an Evolution API v2 server (providers.md §1.1, §1.9, §1.13).
 *
 * Routes: POST /message/{sendText,sendMedia,sendButtons,sendList}/:instance,
 * POST /chat/sendPresence/:instance, GET /instance/connectionState/:instance,
 * POST /chat/whatsappNumbers/:instance, POST /chat/getBase64FromMediaMessage/:instance
 * (the decrypted bytes of an inbound media message, from `media`), and the instance
 * lifecycle: POST /instance/create (403 when the name is taken), GET /instance/connect/:instance
 * (a QR, `count` incrementing), POST /instance/restart, DELETE /instance/logout and
 * /instance/delete; `emit*` post connection.update / qrcode.updated to the instance's webhook
 * with its configured headers, like the server does. Guards run like the real server:
 * unknown instance → 404 first, then a wrong `apikey` → 401.
 */
import { randomBytes } from 'node:crypto';
import { FakeServer, headerValue, type FakeResponse, type RecordedRequest, type RequestMatcher } from './fakeServer';

export type EvolutionSendKind = 'text' | 'media' | 'buttons' | 'list';

export interface EvolutionSent {
  instance: string;
  /** `number` exactly as posted. */
  number: string;
  /** The JID the fake resolved it to (Brazilian ninth digit dropped like Evolution's createJid). */
  remoteJid: string;
  kind: EvolutionSendKind;
  body: Record<string, unknown>;
  providerMessageId: string;
  receivedAt: number;
  idempotencyKey?: string;
}

export interface EvolutionPresence {
  instance: string;
  number: string;
  presence: string;
  delay: number;
  receivedAt: number;
}

/** An inbound media message's decrypted file, as getBase64FromMediaMessage serves it. */
export interface EvolutionMedia {
  mimetype: string;
  data: Buffer;
  /** Evolution's `mediaType`: `imageMessage`, `audioMessage`… */
  mediaType: string;
  caption?: string;
}

export interface EvolutionFakeOptions {
  /** Global key accepted on every instance. Default `evo-test-key`. */
  apiKey?: string;
  /** Per-instance tokens (also accepted on their own instance). */
  instanceTokens?: Record<string, string>;
  /** Existing instances, all `open`. Default `['loja-centro']`. */
  instances?: string[];
  /** Digits that are not on WhatsApp (send → 400 exists:false; whatsappNumbers → exists:false). */
  notOnWhatsApp?: Iterable<string>;
  /** Unknown routes → 404 + `unexpected`. Default true. */
  strict?: boolean;
  /** Hold sendPresence open for `delay` ms like the real server does. Default false. */
  presenceBlocks?: boolean;
  maxRecorded?: number;
  latencyMs?: number;
  /** Listen backlog of the fake server (see FakeServerOptions). */
  backlog?: number;
}

const SEND_ROUTES: Record<string, EvolutionSendKind> = {
  sendText: 'text',
  sendMedia: 'media',
  sendButtons: 'buttons',
  sendList: 'list',
};

export class EvolutionFake {
  readonly server: FakeServer;
  readonly sent: EvolutionSent[] = [];
  readonly presences: EvolutionPresence[] = [];
  readonly notOnWhatsApp: Set<string>;
  readonly states = new Map<string, string>();
  /** Media of inbound messages by message id (`key.id`), for getBase64FromMediaMessage. */
  readonly media = new Map<string, EvolutionMedia>();
  apiKey: string;
  readonly instanceTokens: Record<string, string>;
  presenceBlocks: boolean;

  constructor(opts: EvolutionFakeOptions = {}) {
    this.apiKey = opts.apiKey ?? 'evo-test-key';
    this.instanceTokens = { ...opts.instanceTokens };
    this.presenceBlocks = opts.presenceBlocks ?? false;
    this.notOnWhatsApp = new Set(opts.notOnWhatsApp ?? []);
    for (const name of opts.instances ?? ['loja-centro']) this.states.set(name, 'open');
    this.server = new FakeServer({ strict: opts.strict ?? true, maxRecorded: opts.maxRecorded, latencyMs: opts.latencyMs, backlog: opts.backlog });

    for (const route of Object.keys(SEND_ROUTES)) {
      this.server.route('POST', `/message/${route}/:instance`, (req, p) => this.guard(req, p.instance) ?? this.handleSend(req, p.instance!, route));
    }
    this.server.route('POST', '/chat/sendPresence/:instance', (req, p) => this.guard(req, p.instance) ?? this.handlePresence(req, p.instance!));
    this.server.route('GET', '/instance/connectionState/:instance', (req, p) =>
      this.guard(req, p.instance) ?? {
        status: 200,
        body: { instance: { instanceName: p.instance, state: this.states.get(p.instance!) } },
      },
    );
    this.server.route('POST', '/chat/whatsappNumbers/:instance', (req, p) => this.guard(req, p.instance) ?? this.handleNumbers(req));
    this.server.route('POST', '/chat/getBase64FromMediaMessage/:instance', (req, p) => this.guard(req, p.instance) ?? this.handleMedia(req));
    // Instance lifecycle (providers.md §1.13).
    this.server.route('POST', '/instance/create', (req) => this.handleCreate(req));
    this.server.route('GET', '/instance/connect/:instance', (req, p) => this.guard(req, p.instance) ?? this.handleConnect(p.instance!));
    this.server.route('POST', '/instance/restart/:instance', (req, p) => {
      const denied = this.guard(req, p.instance);
      if (denied) return denied;
      this.restarts.push(p.instance!);
      return { status: 200, body: { instance: { instanceName: p.instance, state: this.states.get(p.instance!) } } };
    });
    this.server.route('DELETE', '/instance/logout/:instance', (req, p) => {
      const denied = this.guard(req, p.instance);
      if (denied) return denied;
      if (this.states.get(p.instance!) !== 'open') return badRequest([`The "${p.instance}" instance is not connected`]);
      this.states.set(p.instance!, 'close');
      this.logouts.push(p.instance!);
      return { status: 200, body: { status: 'SUCCESS', error: false, response: { message: 'Instance logged out' } } };
    });
    this.server.route('DELETE', '/instance/delete/:instance', (req, p) => {
      const denied = this.guard(req, p.instance);
      if (denied) return denied;
      this.states.delete(p.instance!);
      this.webhooks.delete(p.instance!);
      this.deleted.push(p.instance!);
      return { status: 200, body: { status: 'SUCCESS', error: false, response: { message: 'Instance deleted' } } };
    });
  }

  /** Instances created through /instance/create, with the webhook each posts to. */
  readonly webhooks = new Map<string, { url: string; headers: Record<string, string>; events: string[] }>();
  readonly restarts: string[] = [];
  readonly logouts: string[] = [];
  readonly deleted: string[] = [];
  /** QRs served per instance (Evolution's `count`). */
  readonly qrCounts = new Map<string, number>();

  private handleCreate(req: RecordedRequest): FakeResponse {
    if (headerValue(req, 'apikey') !== this.apiKey) return { status: 401, body: { status: 401, error: 'Unauthorized', response: { message: 'Unauthorized' } } };
    const body = (isObject(req.body) ? req.body : {}) as {
      instanceName?: unknown;
      integration?: unknown;
      qrcode?: unknown;
      webhook?: { url?: unknown; headers?: unknown; events?: unknown; enabled?: unknown };
    };
    if (typeof body.instanceName !== 'string' || body.instanceName === '') return badRequest(['instance requires property "instanceName"']);
    if (!['WHATSAPP-BAILEYS', 'WHATSAPP-BUSINESS', 'EVOLUTION'].includes(String(body.integration))) return badRequest(['Invalid integration']);
    if (this.states.has(body.instanceName)) return evolutionError(403, 'Forbidden', [`This name "${body.instanceName}" is already in use.`]);
    const token = randomBytes(16).toString('hex').toUpperCase();
    this.states.set(body.instanceName, 'close');
    this.instanceTokens[body.instanceName] = token;
    if (body.webhook && typeof body.webhook.url === 'string') {
      this.webhooks.set(body.instanceName, {
        url: body.webhook.url,
        headers: (isObject(body.webhook.headers) ? body.webhook.headers : {}) as Record<string, string>,
        events: Array.isArray(body.webhook.events) ? body.webhook.events.map(String) : [],
      });
    }
    const qrcode = body.qrcode === true ? this.nextQr(body.instanceName) : undefined;
    if (qrcode) this.states.set(body.instanceName, 'connecting');
    return {
      status: 201,
      body: {
        instance: { instanceName: body.instanceName, instanceId: instanceUuid(body.instanceName), integration: body.integration, status: qrcode ? 'connecting' : 'close' },
        hash: token,
        webhook: body.webhook ?? {},
        settings: {},
        ...(qrcode ? { qrcode } : {}),
      },
    };
  }

  private handleConnect(instance: string): FakeResponse {
    if (this.states.get(instance) === 'open') return { status: 200, body: { instance: { instanceName: instance, state: 'open' } } };
    this.states.set(instance, 'connecting');
    return { status: 200, body: this.nextQr(instance) };
  }

  /** A new QR for the instance: raw code (`2@…`) and a PNG data URL, `count` incrementing. */
  nextQr(instance: string): { pairingCode: string | null; code: string; base64: string; count: number } {
    const count = (this.qrCounts.get(instance) ?? 0) + 1;
    this.qrCounts.set(instance, count);
    const code = `2@${instance}-${count}-${randomBytes(12).toString('base64url')}`;
    // Not a drawing of `code`: tests compare data URLs by the code they carry.
    const base64 = `data:image/png;base64,${Buffer.from(`qr:${code}`).toString('base64')}`;
    return { pairingCode: null, code, base64, count };
  }

  /**
   * Posts an event to the instance's webhook like the real server does (the configured
   * headers, the instance token as `apikey` in the body). Returns zapflow's status.
   */
  async emit(instance: string, event: 'connection.update' | 'qrcode.updated' | string, data: Record<string, unknown>): Promise<number> {
    const hook = this.webhooks.get(instance);
    if (!hook) throw new Error(`instance ${instance} has no webhook (created outside /instance/create)`);
    const res = await fetch(hook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...hook.headers },
      body: JSON.stringify({
        event,
        instance,
        data,
        destination: hook.url,
        date_time: new Date().toISOString(),
        sender: '5511999990000@s.whatsapp.net',
        server_url: this.url,
        apikey: this.instanceTokens[instance],
      }),
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** The instance is paired (`open`) and says so: connection.update with the number's wuid. */
  async emitOpen(instance: string, phone: string): Promise<number> {
    this.states.set(instance, 'open');
    return this.emit(instance, 'connection.update', { instance, state: 'open', statusReason: 200, wuid: `${phone}@s.whatsapp.net`, profileName: 'Loja' });
  }

  /** The instance drops (`close` with a reason Evolution reconnects from, unless 401: logged out). */
  async emitClose(instance: string, statusReason = 428): Promise<number> {
    this.states.set(instance, 'close');
    return this.emit(instance, 'connection.update', { instance, state: 'close', statusReason });
  }

  async emitQr(instance: string): Promise<number> {
    return this.emit(instance, 'qrcode.updated', { qrcode: { instance, ...this.nextQr(instance) } });
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
    this.presences.length = 0;
  }

  addInstance(name: string, state = 'open', token?: string): void {
    this.states.set(name, state);
    if (token) this.instanceTokens[name] = token;
  }
  setState(name: string, state: 'open' | 'connecting' | 'close' | string): void {
    this.states.set(name, state);
  }

  private guard(req: RecordedRequest, instance: string | undefined): FakeResponse | undefined {
    if (!instance || !this.states.has(instance)) {
      return evolutionError(404, 'Not Found', [`The "${instance}" instance does not exist`]);
    }
    const key = headerValue(req, 'apikey');
    if (!key || (key !== this.apiKey && key !== this.instanceTokens[instance])) {
      return { status: 401, body: { status: 401, error: 'Unauthorized', response: { message: 'Unauthorized' } } };
    }
    return undefined;
  }

  private handleSend(req: RecordedRequest, instance: string, route: string): FakeResponse {
    const kind = SEND_ROUTES[route]!;
    const body = (isObject(req.body) ? req.body : {}) as Record<string, unknown>;
    const number = body.number;
    if (typeof number !== 'string' || number === '') return badRequest(['instance requires property "number"']);

    const invalid = validateSend(kind, body);
    if (invalid) return badRequest([invalid]);

    const digits = number.split('@')[0]!.replace(/\D/g, '');
    const remoteJid = toJid(number);
    if (!number.includes('@') && (this.notOnWhatsApp.has(digits) || this.notOnWhatsApp.has(remoteJid.split('@')[0]!))) {
      return badRequest([{ jid: remoteJid, exists: false, number }]);
    }
    if (this.states.get(instance) !== 'open') return badRequest(['Error: Connection Closed']);

    const id = newEvolutionId();
    const entry: EvolutionSent = {
      instance,
      number,
      remoteJid,
      kind,
      body,
      providerMessageId: id,
      receivedAt: req.receivedAt,
      idempotencyKey: headerValue(req, 'x-idempotency-key'),
    };
    this.sent.push(entry);
    const { messageType, message } = messageContent(kind, body);
    return {
      status: 201,
      body: {
        key: { remoteJid, fromMe: true, id },
        pushName: 'Você',
        status: 'PENDING',
        message,
        contextInfo: null,
        messageType,
        messageTimestamp: Math.floor(req.receivedAt / 1000),
        instanceId: instanceUuid(instance),
        source: 'unknown',
      },
    };
  }

  private handlePresence(req: RecordedRequest, instance: string): FakeResponse {
    const body = (isObject(req.body) ? req.body : {}) as Record<string, unknown>;
    if (typeof body.number !== 'string' || typeof body.presence !== 'string') {
      return badRequest(['instance requires property "number"', 'instance requires property "presence"']);
    }
    const delay = typeof body.delay === 'number' ? body.delay : 0;
    this.presences.push({ instance, number: body.number, presence: body.presence, delay, receivedAt: req.receivedAt });
    return { status: 201, body: { presence: body.presence }, delayMs: this.presenceBlocks ? delay : 0 };
  }

  /** Body `{message: {key: {id}}, convertToMp4}`; answers the file as base64 with its mimetype. */
  private handleMedia(req: RecordedRequest): FakeResponse {
    const body = isObject(req.body) ? (req.body as { message?: { key?: { id?: unknown } } }) : {};
    const id = body.message?.key?.id;
    if (typeof id !== 'string' || id === '') return badRequest(['instance requires property "message"']);
    const file = this.media.get(id);
    if (!file) return badRequest([`Message not found: ${id}`]);
    return {
      status: 201,
      body: {
        mediaType: file.mediaType,
        fileName: `${id}.${file.mimetype.split('/')[1]?.split(';')[0] ?? 'bin'}`,
        caption: file.caption,
        size: { fileLength: String(file.data.length) },
        mimetype: file.mimetype,
        base64: file.data.toString('base64'),
        buffer: null,
      },
    };
  }

  private handleNumbers(req: RecordedRequest): FakeResponse {
    const numbers = isObject(req.body) ? (req.body as { numbers?: unknown }).numbers : undefined;
    if (!Array.isArray(numbers)) return badRequest(['instance requires property "numbers"']);
    return {
      status: 200,
      body: numbers.map((n) => {
        const number = String(n);
        const jid = toJid(number);
        const exists = !this.notOnWhatsApp.has(number.replace(/\D/g, '')) && !this.notOnWhatsApp.has(jid.split('@')[0]!);
        return exists ? { jid, exists, number, name: '' } : { jid, exists, number };
      }),
    };
  }
}

export async function startEvolutionFake(opts: EvolutionFakeOptions = {}): Promise<EvolutionFake> {
  const fake = new EvolutionFake(opts);
  await fake.start();
  return fake;
}

/** `3EB0` + 18 upper-case hex digits: the 22-char id shape Baileys gives web-sent messages. */
export function newEvolutionId(): string {
  return `3EB0${randomBytes(9).toString('hex').toUpperCase()}`;
}

/**
 * Evolution's createJid for a plain number: Brazilian mobiles with DDD ≥ 31 whose digit
 * after the 9 is ≥ 7 lose the ninth digit (providers.md §1.12).
 */
export function toJid(number: string): string {
  if (number.includes('@')) return number;
  let digits = number.replace(/\D/g, '');
  if (digits.length === 13 && digits.startsWith('55')) {
    const ddd = Number(digits.slice(2, 4));
    const joker = Number(digits[5]);
    if (ddd >= 31 && joker >= 7) digits = digits.slice(0, 4) + digits.slice(5);
  }
  return `${digits}@s.whatsapp.net`;
}

function validateSend(kind: EvolutionSendKind, b: Record<string, unknown>): string | undefined {
  switch (kind) {
    case 'text':
      return typeof b.text === 'string' && b.text.trim() !== '' ? undefined : 'Text is required';
    case 'media':
      if (!['image', 'video', 'document', 'audio'].includes(String(b.mediatype))) return 'mediatype must be one of image, document, video, audio';
      return typeof b.media === 'string' && b.media !== '' ? undefined : 'Owned media must be a url or base64';
    case 'buttons': {
      if (!Array.isArray(b.buttons) || b.buttons.length === 0) return 'instance requires property "buttons"';
      const replies = b.buttons.filter((x) => isObject(x) && (x as { type?: unknown }).type === 'reply');
      if (replies.length > 3) return 'Error: Maximum of 3 reply buttons';
      return undefined;
    }
    case 'list':
      for (const f of ['title', 'footerText', 'buttonText', 'sections']) {
        if (b[f] === undefined) return `instance requires property "${f}"`;
      }
      return Array.isArray(b.sections) && b.sections.length > 0 ? undefined : 'instance.sections does not meet minimum length of 1';
  }
}

function messageContent(kind: EvolutionSendKind, b: Record<string, unknown>): { messageType: string; message: unknown } {
  switch (kind) {
    case 'text':
      return { messageType: 'conversation', message: { conversation: b.text } };
    case 'media': {
      const type = `${String(b.mediatype)}Message`;
      return { messageType: type, message: { [type]: { url: b.media, mimetype: b.mimetype, caption: b.caption, fileName: b.fileName } } };
    }
    case 'buttons':
      return { messageType: 'buttonsMessage', message: { buttonsMessage: { contentText: b.title, footerText: b.footer } } };
    case 'list':
      return { messageType: 'listMessage', message: { listMessage: { title: b.title, description: b.description, buttonText: b.buttonText } } };
  }
}

function evolutionError(status: number, error: string, message: unknown): FakeResponse {
  return { status, body: { status, error, response: { message } } };
}

function badRequest(message: unknown[]): FakeResponse {
  return evolutionError(400, 'Bad Request', message);
}

function isObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const uuids = new Map<string, string>();
function instanceUuid(name: string): string {
  let id = uuids.get(name);
  if (!id) {
    const h = randomBytes(16).toString('hex');
    id = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
    uuids.set(name, id);
  }
  return id;
}
