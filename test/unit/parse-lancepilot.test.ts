import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MessageEvent } from '../../src/domain/events';
import { contactKey } from '../../src/domain/phone';
import {
  defaultLancePilotMapping,
  describeParseError,
  lancePilotMappingSchema,
  parseLancePilot,
  parseMeta,
  readPath,
} from '../../src/ingest/parse';

const FIXTURES = join(__dirname, '../fixtures/payloads/lancepilot');
const fixture = (name: string): any => JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8'));
const RECEIVED_AT = 1_773_160_000_000;

function zodPath(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect((err as Error).name).toBe('ZodError');
    return describeParseError(err).path;
  }
  throw new Error('expected a ZodError');
}

describe('parseLancePilot: default mapping', () => {
  it('flat message.received body', () => {
    expect(parseLancePilot(fixture('message-received'))).toEqual({
      eventType: 'message.received',
      items: [
        {
          channelKey: 'loja-centro-lp',
          event: {
            kind: 'message',
            providerMessageId: 'wamid.HBgNNTUxMTk5OTk5MDAwMRUCABIYFExQTUVTU0FHRTAwMDAwMDAwMQA=',
            direction: 'inbound',
            author: 'contact',
            chatType: 'direct',
            contact: { phone: '5511999990001', name: 'Ana Souza' },
            timestamp: 1773153600000,
            type: 'text',
            text: 'Olá! Quero saber o preço do plano anual, por favor.',
          },
        },
      ],
    });
  });

  it('flat body with a Cloud-API-like button: template_button_reply, label as text, formatted phone', () => {
    const event = parseLancePilot(fixture('message-button')).items[0]!.event as MessageEvent;
    expect(event).toMatchObject({
      type: 'template_button_reply',
      text: 'Pode falar sim!',
      button: { id: 'pode_falar_sim', text: 'Pode falar sim!' },
      contact: { phone: '5531988887777', name: 'Bruno Lima' },
      timestamp: 1773153610000,
    });
  });

  it('Cloud-API-like messages[] inside data: list_reply, name from contacts[]', () => {
    const parsed = parseLancePilot(fixture('cloud-like-message'));
    expect(parsed.eventType).toBe('messages');
    expect(parsed.items[0]!.channelKey).toBe('wsp_01J8Z3K4M5N6P7Q8R9S0T1U2V3');
    expect(parsed.items[0]!.event).toMatchObject({
      kind: 'message',
      providerMessageId: 'wamid.HBgNLPLISTREPLY00000000000000000001=',
      type: 'list_reply',
      text: 'Plano anual',
      button: { id: 'plano_anual', text: 'Plano anual' },
      contact: { phone: '5511999990001', name: 'Ana Souza' },
      timestamp: 1773153630000,
    });
  });

  it('a single Cloud API message object (no envelope, no event name) is detected as a message', () => {
    const msg = {
      from: '5511999990001',
      id: 'wamid.HBgNSINGLE000000000000000000001=',
      timestamp: '1773153700',
      type: 'interactive',
      interactive: { type: 'button_reply', button_reply: { id: 'ligar_sim', title: 'Pode ligar' } },
    };
    const parsed = parseLancePilot(msg);
    expect(parsed.items[0]).toEqual({
      channelKey: null,
      event: expect.objectContaining({
        kind: 'message',
        type: 'interactive_reply',
        button: { id: 'ligar_sim', text: 'Pode ligar' },
        text: 'Pode ligar',
        timestamp: 1773153700000,
      }),
    });
  });

  it('status events: by status field, and by event name', () => {
    expect(parseLancePilot(fixture('message-status-delivered'))).toEqual({
      eventType: 'message.status',
      items: [
        {
          channelKey: 'loja-centro-lp',
          event: {
            kind: 'status',
            providerMessageId: 'wamid.HBgNOUTBOUNDLP00000000000000000001=',
            status: 'delivered',
            timestamp: 1773153620000,
          },
        },
      ],
    });
    expect(parseLancePilot(fixture('message-status-failed-by-event')).items[0]!.event).toEqual({
      kind: 'status',
      providerMessageId: 'wamid.HBgNOUTBOUNDLP00000000000000000002=',
      status: 'failed',
      timestamp: Date.parse('2026-03-10T14:41:00Z'),
    });
  });

  it('a single Cloud API status object is detected as a status', () => {
    const parsed = parseLancePilot({ id: 'wamid.HBgNOUTBOUND0000000000000000009=', status: 'read', timestamp: '1773153800', recipient_id: '5511999990001' });
    expect(parsed.items[0]!.event).toEqual({
      kind: 'status',
      providerMessageId: 'wamid.HBgNOUTBOUND0000000000000000009=',
      status: 'read',
      timestamp: 1773153800000,
    });
  });

  it('an unrecognised status value → UnknownEvent', () => {
    const body = fixture('message-status-delivered');
    body.data.status = 'processando';
    expect(parseLancePilot(body).items[0]!.event).toEqual({ kind: 'unknown', eventType: 'message.status' });
  });

  it('unknown events → UnknownEvent with the event name; channel key still read', () => {
    expect(parseLancePilot(fixture('unknown-event'))).toEqual({
      eventType: 'contact.updated',
      items: [{ channelKey: 'loja-centro-lp', event: { kind: 'unknown', eventType: 'contact.updated' } }],
    });
    expect(parseLancePilot({ ping: true })).toEqual({
      eventType: 'unknown',
      items: [{ channelKey: null, event: { kind: 'unknown', eventType: 'unknown' } }],
    });
  });

  it('no timestamp → time of receipt; seconds, ms and ISO detected automatically', () => {
    const body = fixture('message-received');
    delete body.data.timestamp;
    delete body.timestamp;
    const at = (b: unknown) => (parseLancePilot(b, {}, { receivedAt: RECEIVED_AT }).items[0]!.event as MessageEvent).timestamp;
    expect(at(body)).toBe(RECEIVED_AT);
    body.data.timestamp = 1773153600123;
    expect(at(body)).toBe(1773153600123);
    body.data.timestamp = '2026-03-10T14:40:00.000Z';
    expect(at(body)).toBe(Date.parse('2026-03-10T14:40:00.000Z'));
  });

  it('event names match ignoring case and separators', () => {
    const body = fixture('message-received');
    body.event = 'MESSAGE_RECEIVED';
    expect(parseLancePilot(body).items[0]!.event.kind).toBe('message');
  });

  it('BSUID sender → contact.userId', () => {
    const body = fixture('message-received');
    body.data.from = 'BR.1587668549511396';
    const event = parseLancePilot(body).items[0]!.event as MessageEvent;
    expect(event.contact).toEqual({ userId: 'BR.1587668549511396', name: 'Ana Souza' });
    expect(contactKey(event.contact)).toBe('uid:BR.1587668549511396');
  });
});

describe('parseLancePilot: Meta delegation', () => {
  it('a full Meta envelope is parsed by parseMeta', () => {
    const body = fixture('meta-envelope');
    expect(parseLancePilot(body)).toEqual(parseMeta(body));
    expect(parseLancePilot(body).items[0]!.event).toMatchObject({
      type: 'template_button_reply',
      button: { id: 'quero_comprar', text: 'Quero comprar' },
    });
  });

  it('a Meta envelope inside data, and a bare Cloud API value', () => {
    const inData = { event: 'webhook', data: fixture('meta-envelope') };
    expect(parseLancePilot(inData)).toEqual(parseMeta(fixture('meta-envelope')));
    const parsed = parseLancePilot(fixture('cloud-value'));
    expect(parsed.items[0]).toEqual({
      channelKey: '600000000000001',
      event: expect.objectContaining({
        kind: 'message',
        text: 'Vocês atendem em Contagem também?',
        contact: { phone: '553188887777', name: 'Bruno Lima' },
      }),
    });
  });

  it('delegated errors keep paths relative to the POSTed body', () => {
    const inData = { event: 'webhook', data: fixture('meta-envelope') };
    delete inData.data.entry[0].changes[0].value.messages[0].id;
    expect(zodPath(() => parseLancePilot(inData))).toBe('data.entry.0.changes.0.value.messages.0.id');
    const value = fixture('cloud-value');
    delete value.messages[0].id;
    expect(zodPath(() => parseLancePilot(value))).toBe('messages.0.id');
  });
});

describe('parseLancePilot: custom mapping', () => {
  const mapping = {
    eventType: 'tipo',
    messageEvents: ['mensagem_recebida'],
    messageId: 'payload.mensagem.codigo',
    from: 'payload.mensagem.remetente.telefone',
    name: 'payload.mensagem.remetente.nome',
    text: ['payload.mensagem.texto', 'payload.mensagem.conteudo'],
    buttonId: 'payload.mensagem.botao.id',
    buttonText: 'payload.mensagem.botao.texto',
    timestamp: 'payload.mensagem.enviadaEm',
    timestampUnit: 'ms' as const,
    account: 'conta.numero',
  };

  it('reads every field through the configured paths (candidate lists tried in order)', () => {
    expect(parseLancePilot(fixture('custom-shape'), mapping)).toEqual({
      eventType: 'mensagem_recebida',
      items: [
        {
          channelKey: '5511999990000',
          event: {
            kind: 'message',
            providerMessageId: 'LP-MSG-000000001',
            direction: 'inbound',
            author: 'contact',
            chatType: 'direct',
            contact: { phone: '5531988887777', name: 'Bruno Lima' },
            timestamp: 1773153660123,
            type: 'text',
            text: 'Olá, tudo bem? Quero fechar o pedido.',
          },
        },
      ],
    });
  });

  it('the defaults do not understand that shape', () => {
    expect(parseLancePilot(fixture('custom-shape')).items[0]!.event.kind).toBe('unknown');
  });

  it('custom button paths → interactive_reply', () => {
    const body = fixture('custom-shape');
    body.payload.mensagem.botao = { id: 'quero_comprar', texto: 'Quero comprar' };
    delete body.payload.mensagem.conteudo;
    expect(parseLancePilot(body, mapping).items[0]!.event).toMatchObject({
      type: 'interactive_reply',
      text: 'Quero comprar',
      button: { id: 'quero_comprar', text: 'Quero comprar' },
    });
  });

  it('custom status mapping with seconds', () => {
    const body = { kind: 'entrega', conta: 'loja-centro-lp', ref: { msg: 'wamid.X1' }, situacao: 'READ', quando: 1773153900 };
    expect(
      parseLancePilot(body, {
        eventType: 'kind',
        statusEvents: ['entrega'],
        status: 'situacao',
        statusMessageId: 'ref.msg',
        timestamp: 'quando',
        timestampUnit: 'seconds',
        account: 'conta',
      }),
    ).toEqual({
      eventType: 'entrega',
      items: [
        { channelKey: 'loja-centro-lp', event: { kind: 'status', providerMessageId: 'wamid.X1', status: 'read', timestamp: 1773153900000 } },
      ],
    });
  });

  it('an invalid mapping throws a ZodError naming the field', () => {
    expect(zodPath(() => parseLancePilot(fixture('custom-shape'), { timestampUnit: 'minutes' as never }))).toBe('timestampUnit');
    expect(zodPath(() => parseLancePilot(fixture('custom-shape'), { messageId: '' }))).toBe('messageId');
  });

  it('the default mapping satisfies its own schema', () => {
    expect(lancePilotMappingSchema.parse(defaultLancePilotMapping)).toEqual(defaultLancePilotMapping);
  });
});

describe('parseLancePilot: malformed payloads', () => {
  it('message event without id → ZodError at the plausible path', () => {
    const bad = fixture('malformed-missing-id');
    expect(zodPath(() => parseLancePilot(bad))).toBe('data.id');
    try {
      parseLancePilot(bad);
    } catch (err) {
      expect(describeParseError(err).message).toMatch(/^data\.id: messageId not found/);
    }
  });

  it('message event without sender, status event without message id', () => {
    const noFrom = fixture('message-received');
    delete noFrom.data.from;
    expect(zodPath(() => parseLancePilot(noFrom))).toBe('data.from');
    const noId = fixture('message-status-delivered');
    delete noId.data.id;
    expect(zodPath(() => parseLancePilot(noId))).toBe('data.message_id');
  });

  it('non-object bodies', () => {
    expect(zodPath(() => parseLancePilot(null))).toBe('');
    expect(zodPath(() => parseLancePilot('oi'))).toBe('');
  });
});

describe('readPath', () => {
  it('walks objects and arrays', () => {
    const body = { a: { b: [{ c: 1 }, { c: 'dois' }] } };
    expect(readPath(body, 'a.b.1.c')).toBe('dois');
    expect(readPath(body, 'a.b.0.c')).toBe(1);
    expect(readPath(body, 'a.b.x')).toBeUndefined();
    expect(readPath(body, 'a.b.5.c')).toBeUndefined();
    expect(readPath(body, 'a.z.c')).toBeUndefined();
    expect(readPath(body, '')).toBe(body);
  });
});
