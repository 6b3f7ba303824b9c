/**
 * Loopback fake of the OpenAI API: `POST /v1/chat/completions` and
 * `POST /v1/audio/transcriptions`, answering in the real shapes so the official SDK runs
 * unchanged (point OPENAI_BASE_URL at `fake.baseUrl`). Records every request; answers come
 * from `respond` (a function of the request), failures are scripted with `failNext`
 * (429 with Retry-After, 500…). Unknown routes answer 404 and land in `unexpected`.
 *
 * Vision: a chat request with an `image_url` part is answered by `describeImage` and
 * recorded in `visions` (not in `chats`). Like the real API, an image that is not an
 * http(s) URL or a base64 data URL of a PNG, JPEG, GIF or WebP image is refused with 400.
 */
import { FakeServer, type FakeResponse, type RecordedRequest } from './fakeServer';

export interface ChatRequest {
  model: string;
  messages: Array<{ role: string; content: unknown }>;
  max_tokens?: number;
  response_format?: { type: string };
  [key: string]: unknown;
}

export type ChatResponder = (req: ChatRequest, index: number) => string | FakeResponse;

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((c) => (c && typeof c === 'object' && 'text' in c ? String((c as { text: unknown }).text) : '')).join(' ');
  return '';
}

/** The `image_url` URLs of a chat request (vision), in order. */
export function imageUrls(req: ChatRequest): string[] {
  const urls: string[] = [];
  for (const m of req.messages) {
    if (!Array.isArray(m.content)) continue;
    for (const part of m.content as Array<{ type?: string; image_url?: { url?: unknown } }>) {
      if (part?.type === 'image_url' && typeof part.image_url?.url === 'string') urls.push(part.image_url.url);
    }
  }
  return urls;
}

/** What the real API accepts as an image: an http(s) URL or a base64 data URL of a supported type. */
const DATA_URL = /^data:image\/(png|jpeg|gif|webp);base64,([A-Za-z0-9+/]+={0,2})$/;
function imageProblem(url: string): string | undefined {
  if (/^https?:\/\//.test(url)) return undefined;
  const m = DATA_URL.exec(url);
  if (!m || Buffer.from(m[2]!, 'base64').length === 0) return `Invalid image URL: expected an http(s) URL or a base64 data URL of png, jpeg, gif or webp`;
  return undefined;
}

/** The user-visible text of a chat request (every message), for assertions. */
export function chatText(req: ChatRequest): string {
  return req.messages.map((m) => contentText(m.content)).join('\n');
}

export class OpenAiFake {
  readonly server = new FakeServer({ strict: true });
  /** Chat requests in arrival order (failed ones included). */
  readonly chats: ChatRequest[] = [];
  readonly transcriptions: RecordedRequest[] = [];
  /** Vision requests (a chat with an image), in arrival order. */
  readonly visions: ChatRequest[] = [];
  respond: ChatResponder = () => 'Claro! Posso ajudar com mais alguma coisa?';
  describeImage: ChatResponder = () => 'Foto de um comprovante de Pix de R$ 150,00 para a Loja Centro.';
  transcript = 'Queria saber o preço do plano anual';

  constructor() {
    this.server.route('POST', '/v1/chat/completions', (req) => {
      const body = req.body as ChatRequest;
      const images = imageUrls(body);
      let answer: string | FakeResponse;
      let index: number;
      if (images.length > 0) {
        index = this.visions.length;
        this.visions.push(body);
        const problem = images.map(imageProblem).find(Boolean);
        if (problem) {
          return { status: 400, body: { error: { message: problem, type: 'invalid_request_error', param: null, code: 'invalid_image_format' } } };
        }
        answer = this.describeImage(body, index);
      } else {
        index = this.chats.length;
        this.chats.push(body);
        answer = this.respond(body, index);
      }
      if (typeof answer !== 'string') return answer;
      const promptChars = body.messages.reduce((n, m) => n + contentText(m.content).length, 0);
      return {
        status: 200,
        body: {
          id: `chatcmpl-fake-${images.length > 0 ? 'vision-' : ''}${index}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: answer, refusal: null }, finish_reason: 'stop', logprobs: null }],
          // About 4 characters per token, like the real tokenizer on Portuguese prose.
          usage: { prompt_tokens: Math.ceil(promptChars / 4), completion_tokens: Math.ceil(answer.length / 4), total_tokens: Math.ceil((promptChars + answer.length) / 4) },
        },
      };
    });
    this.server.route('POST', '/v1/audio/transcriptions', (req) => {
      this.transcriptions.push(req);
      return { status: 200, body: { text: this.transcript } };
    });
  }

  async start(): Promise<string> {
    await this.server.start();
    return this.baseUrl;
  }

  /** What OPENAI_BASE_URL should be. */
  get baseUrl(): string {
    return `${this.server.url}/v1`;
  }

  get unexpected(): RecordedRequest[] {
    return this.server.unexpected;
  }

  /** Chat requests whose text contains `needle`. */
  chatsMentioning(needle: string): ChatRequest[] {
    return this.chats.filter((c) => chatText(c).includes(needle));
  }

  /** The next `n` chat completions fail with `status` (429 carries `retry-after-ms`). */
  failNext(n: number, status: number, opts: { retryAfterMs?: number; matcher?: (req: RecordedRequest) => boolean } = {}): () => void {
    const response: FakeResponse = {
      status,
      headers: status === 429 ? { 'retry-after-ms': String(opts.retryAfterMs ?? 50) } : {},
      body: {
        error: {
          message: status === 429 ? 'Rate limit reached for requests' : 'The server had an error while processing your request.',
          type: status === 429 ? 'requests' : 'server_error',
          param: null,
          code: status === 429 ? 'rate_limit_exceeded' : null,
        },
      },
    };
    return this.server.respondWith(
      opts.matcher ?? ((req) => req.path.endsWith('/chat/completions')),
      (req) => {
        if (req.path.endsWith('/chat/completions')) this.chats.push(req.body as ChatRequest);
        return response;
      },
      { times: n },
    );
  }

  reset(): void {
    this.server.reset();
    this.chats.length = 0;
    this.transcriptions.length = 0;
    this.visions.length = 0;
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

export async function startOpenAiFake(): Promise<OpenAiFake> {
  const fake = new OpenAiFake();
  await fake.start();
  return fake;
}
