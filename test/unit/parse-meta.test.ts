import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MessageEvent, NormalisedEvent } from '../../src/domain/events';
import { contactKey } from '../../src/domain/phone';
import { describeParseError, parseMeta } from '../../src/ingest/parse';

const FIXTURES = join(__dirname, '../fixtures/payloads/meta');
const fixture = (name: string): any => JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8'));

function only(name: string | object): NormalisedEvent {
  const parsed = parseMeta(typeof name === 'string' ? fixture(name) : name);
  expect(parsed.eventType).toBe('messages');
  expect(parsed.items).toHaveLength(1);
  expect(parsed.items[0]!.channelKey).toBe('600000000000001');
  return parsed.items[0]!.event;
}
const message = (name: string | object): MessageEvent => {
  const event = only(name);
  expect(event.kind).toBe('message');
  return event as MessageEvent;
};
function zodPath(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect((err as Error).name).toBe('ZodError');
    return describeParseError(err).path;
  }
  throw new Error('expected a ZodError');
}

describe('parseMeta: message types', () => {
  it('text: full normalised event', () => {
    expect(parseMeta(fixture('text'))).toEqual({
      eventType: 'messages',
      items: [
        {
          channelKey: '600000000000001',
          event: {
            kind: 'message',
            providerMessageId: 'wamid.HBgNNTUxMTk5OTk5MDAwMRUCABIYFDNBQTExMjIzMzQ0NTU2Njc3ODg5AA==',
            direction: 'inbound',
            author: 'contact',
            chatType: 'direct',
            contact: { phone: '5511999990001', name: 'Ana Souza' },
            timestamp: 1773152525000,
            type: 'text',
            text: 'Oi, quero saber o preço',
          },
        },
      ],
    });
  });

  it('text with a click-to-WhatsApp ad referral', () => {
    const m = message('text-referral');
    expect(m.text).toBe('Olá! Vi o anúncio e quero mais informações.');
    expect(m.referral).toMatchObject({ source_type: 'ad', source_id: '120210000000000001', headline: expect.any(String) });
  });

  it('button (template quick reply) → template_button_reply, id = payload', () => {
    expect(message('button')).toMatchObject({
      type: 'template_button_reply',
      text: 'Pode falar sim!',
      button: { id: 'pode_falar_sim', text: 'Pode falar sim!' },
      replyTo: 'wamid.HBgNTEMPLATE0000000000000000001=',
    });
  });

  it('interactive button_reply → interactive_reply', () => {
    expect(message('interactive-button-reply')).toMatchObject({
      type: 'interactive_reply',
      text: 'Quero comprar',
      button: { id: 'quero_comprar', text: 'Quero comprar' },
      replyTo: 'wamid.HBgNINTERACTIVE0000000000000001=',
    });
  });

  it('interactive list_reply → list_reply (Bruno, 12-digit wa_id)', () => {
    const m = message('interactive-list-reply');
    expect(m).toMatchObject({
      type: 'list_reply',
      text: 'Plano anual',
      button: { id: 'plano_anual', text: 'Plano anual' },
      contact: { phone: '553188887777', name: 'Bruno Lima' },
    });
    expect(contactKey(m.contact)).toBe('5531988887777');
  });

  it('interactive nfm_reply (Flow completion) → interactive_reply', () => {
    expect(message('interactive-nfm-reply')).toMatchObject({
      type: 'interactive_reply',
      text: 'Sent',
      button: { id: 'flow', text: 'Sent' },
    });
  });

  it('unknown interactive subtype → unsupported', () => {
    const body = fixture('interactive-button-reply');
    body.entry[0].changes[0].value.messages[0].interactive = { type: 'call_permission_reply', call_permission_reply: {} };
    expect(message(body).type).toBe('unsupported');
  });

  it('voice note: media audio with mediaId and voice', () => {
    const m = message('audio-voice');
    expect(m.type).toBe('media');
    expect(m.text).toBeUndefined();
    expect(m.media).toEqual({
      kind: 'audio',
      mimeType: 'audio/ogg; codecs=opus',
      mediaId: '1908647269898587',
      voice: true,
    });
  });

  it('image, video, document, sticker with captions as text', () => {
    expect(message('image')).toMatchObject({
      type: 'media',
      text: 'Comprovante do Pix',
      media: { kind: 'image', mimeType: 'image/jpeg', caption: 'Comprovante do Pix', mediaId: '1479537139650973' },
    });
    expect(message('video')).toMatchObject({
      type: 'media',
      text: 'Olha o defeito na peça, não liga mais',
      media: { kind: 'video', mediaId: '2018273645546372' },
    });
    expect(message('document')).toMatchObject({
      type: 'media',
      text: 'Segue o orçamento assinado',
      media: { kind: 'document', fileName: 'orçamento-1042.pdf', mimeType: 'application/pdf' },
    });
    const sticker = message('sticker');
    expect(sticker.media).toEqual({ kind: 'sticker', mimeType: 'image/webp', mediaId: '9988776655443322' });
    expect(sticker.text).toBeUndefined();
  });

  it('reaction and reaction removed (no emoji)', () => {
    expect(message('reaction').reaction).toEqual({ messageId: 'wamid.HBgNOUTBOUND0000000000000000001=', emoji: '❤️' });
    expect(message('reaction-removed')).toMatchObject({
      type: 'reaction',
      reaction: { messageId: 'wamid.HBgNOUTBOUND0000000000000000001=' },
    });
    expect(message('reaction-removed').reaction?.emoji).toBeUndefined();
  });

  it('location', () => {
    expect(message('location').location).toEqual({
      latitude: -19.9320123,
      longitude: -43.9380456,
      name: 'Praça da Liberdade',
      address: 'Praça da Liberdade, Funcionários, Belo Horizonte - MG',
    });
  });

  it('contacts: name from formatted_name or first+last, phones from wa_id or phone digits', () => {
    expect(message('contacts')).toMatchObject({
      type: 'contact',
      contacts: [
        { name: 'Bruno Lima', phones: ['553188887777'] },
        { name: 'Carla Araújo', phones: ['5521977771234'] },
      ],
    });
  });

  it('order, system and unsupported → unsupported', () => {
    expect(message('order').type).toBe('unsupported');
    const system = message('system');
    expect(system.type).toBe('unsupported');
    expect(system.contact).toEqual({ phone: '5511999990001' }); // system has no contacts[]
    expect(message('unsupported').type).toBe('unsupported');
  });

  it('BSUID: no from / wa_id → contact.userId', () => {
    const m = message('bsuid');
    expect(m.contact).toEqual({ userId: 'BR.1587668549511396', name: 'Marina' });
    expect(contactKey(m.contact)).toBe('uid:BR.1587668549511396');
  });

  it('contact name matched by wa_id when several contacts are present', () => {
    const body = fixture('text');
    const value = body.entry[0].changes[0].value;
    value.contacts = [
      { profile: { name: 'Bruno Lima' }, wa_id: '553188887777' },
      { profile: { name: 'Ana Souza' }, wa_id: '5511999990001' },
    ];
    expect(message(body).contact).toEqual({ phone: '5511999990001', name: 'Ana Souza' });
  });

  it('numeric timestamps are accepted too', () => {
    const body = fixture('text');
    body.entry[0].changes[0].value.messages[0].timestamp = 1773152525;
    expect(message(body).timestamp).toBe(1773152525000);
  });
});

describe('parseMeta: statuses', () => {
  it('sent', () => {
    expect(only('status-sent')).toEqual({
      kind: 'status',
      providerMessageId: 'wamid.HBgNOUTBOUND0000000000000000001=',
      status: 'sent',
      timestamp: 1773153170000,
      recipient: '5511999990001',
    });
  });

  it('failed with errors[] → error {code as string, title, message, details}', () => {
    expect(only('status-failed')).toEqual({
      kind: 'status',
      providerMessageId: 'wamid.HBgNOUTBOUND0000000000000000002=',
      status: 'failed',
      timestamp: 1773153200000,
      recipient: '5511999990001',
      error: {
        code: '131047',
        title: 'Re-engagement message',
        message: 'Re-engagement message',
        details: 'More than 24 hours have passed since the recipient last replied to the sender number.',
      },
    });
  });

  it('delivered, read, played; an unknown status is not a tick', () => {
    const statusOf = (s: string) => {
      const body = fixture('status-sent');
      body.entry[0].changes[0].value.statuses[0].status = s;
      return only(body);
    };
    expect(statusOf('delivered')).toMatchObject({ kind: 'status', status: 'delivered' });
    expect(statusOf('read')).toMatchObject({ kind: 'status', status: 'read' });
    expect(statusOf('played')).toMatchObject({ kind: 'status', status: 'played' });
    expect(statusOf('deleted')).toEqual({ kind: 'unknown', eventType: 'statuses.deleted' });
  });
});

describe('parseMeta: batches and other fields', () => {
  it('2 entries × several messages and statuses: every one becomes an item, in order', () => {
    const parsed = parseMeta(fixture('batch'));
    expect(parsed.eventType).toBe('messages');
    expect(parsed.items).toHaveLength(9);
    expect(parsed.items.every((i) => i.channelKey === '600000000000001')).toBe(true);
    const summary = parsed.items.map(({ event: e }) =>
      e.kind === 'message' ? `${e.providerMessageId}:${e.type}:${e.contact.name}` : e.kind === 'status' ? `${e.providerMessageId}:${e.status}` : e.kind,
    );
    expect(summary).toEqual([
      'wamid.HBgNBATCH1A000000000000000000001=:text:Ana Souza',
      'wamid.HBgNBATCH1B000000000000000000002=:text:Bruno Lima',
      'wamid.HBgNBATCH1C000000000000000000003=:interactive_reply:Ana Souza',
      'wamid.HBgNOUTBOUND0000000000000000010=:delivered',
      'wamid.HBgNOUTBOUND0000000000000000011=:read',
      'wamid.HBgNBATCH2A000000000000000000004=:media:Ana Souza',
      'wamid.HBgNBATCH2B000000000000000000005=:reaction:Bruno Lima',
      'wamid.HBgNOUTBOUND0000000000000000012=:sent',
      'wamid.HBgNOUTBOUND0000000000000000013=:failed',
    ]);
    expect(parsed.items[8]!.event).toMatchObject({ error: { code: '131026', details: 'Message Undeliverable.' } });
  });

  it('each item carries its own phone_number_id', () => {
    const parsed = parseMeta(fixture('multi-number'));
    expect(parsed.items.map((i) => i.channelKey)).toEqual(['600000000000001', '600000000000002']);
  });

  it('quality and account changes → QualityEvent naming the number; other fields → one UnknownEvent per change; eventType joins the fields', () => {
    expect(parseMeta(fixture('account-update'))).toEqual({
      eventType: 'account_update',
      items: [{ channelKey: null, event: { kind: 'quality', field: 'account_update', displayPhoneNumber: '5511999990000', event: 'VERIFIED_ACCOUNT' } }],
    });
    expect(parseMeta(fixture('template-status-update'))).toEqual({
      eventType: 'message_template_status_update,phone_number_quality_update',
      items: [
        { channelKey: null, event: { kind: 'unknown', eventType: 'message_template_status_update' } },
        {
          channelKey: null,
          event: { kind: 'quality', field: 'phone_number_quality_update', displayPhoneNumber: '5511999990000', event: 'FLAGGED', qualityRating: 'RED', currentLimit: 'TIER_2K' },
        },
      ],
    });
  });

  it('a messages change with only errors → UnknownEvent(messages)', () => {
    const body = fixture('text');
    const value = body.entry[0].changes[0].value;
    delete value.messages;
    delete value.contacts;
    value.errors = [{ code: 131000, title: 'Something went wrong' }];
    expect(only(body)).toEqual({ kind: 'unknown', eventType: 'messages' });
  });

  it('an envelope with no entries parses to no items', () => {
    expect(parseMeta({ object: 'whatsapp_business_account', entry: [] })).toEqual({
      eventType: 'whatsapp_business_account',
      items: [],
    });
  });

  it('signed fixture with escaped unicode parses to the accented text', () => {
    const raw = readFileSync(join(FIXTURES, 'signed-unicode-escaped.json'));
    expect(raw.toString('latin1')).toContain('pre\\u00e7o');
    expect(message(JSON.parse(raw.toString('utf8'))).text).toBe('Olá, preço? Quero o orçamento da instalação 🙂');
  });
});

describe('parseMeta: malformed payloads', () => {
  it('missing message id deep in a batch → full path', () => {
    const bad = fixture('malformed-missing-message-id');
    expect(zodPath(() => parseMeta(bad))).toBe('entry.1.changes.0.value.messages.1.id');
    try {
      parseMeta(bad);
    } catch (err) {
      expect(describeParseError(err).message).toMatch(/^entry\.1\.changes\.0\.value\.messages\.1\.id: /);
    }
  });

  it('missing metadata.phone_number_id, status id, timestamp, type; bad envelope', () => {
    const noPnid = fixture('text');
    delete noPnid.entry[0].changes[0].value.metadata.phone_number_id;
    expect(zodPath(() => parseMeta(noPnid))).toBe('entry.0.changes.0.value.metadata.phone_number_id');

    const noStatusId = fixture('status-failed');
    delete noStatusId.entry[0].changes[0].value.statuses[0].id;
    expect(zodPath(() => parseMeta(noStatusId))).toBe('entry.0.changes.0.value.statuses.0.id');

    const badTs = fixture('text');
    badTs.entry[0].changes[0].value.messages[0].timestamp = 'agora';
    expect(zodPath(() => parseMeta(badTs))).toBe('entry.0.changes.0.value.messages.0.timestamp');

    const noType = fixture('text');
    delete noType.entry[0].changes[0].value.messages[0].type;
    expect(zodPath(() => parseMeta(noType))).toBe('entry.0.changes.0.value.messages.0.type');

    expect(zodPath(() => parseMeta({ object: 'whatsapp_business_account' }))).toBe('entry');
    expect(zodPath(() => parseMeta({ entry: [] }))).toBe('object');
    expect(zodPath(() => parseMeta([]))).toBe('');
  });

  it('unknown extra keys are fine', () => {
    const body = fixture('text');
    body.entry[0].changes[0].value.messages[0].novo = { x: 1 };
    body.entry[0].time = 1773152525;
    expect(message(body).text).toBe('Oi, quero saber o preço');
  });
});
