import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MessageEvent, NormalisedEvent, StatusEvent } from '../../src/domain/events';
import { contactKey } from '../../src/domain/phone';
import { describeParseError, eventFromPathSuffix, parseEvolution } from '../../src/ingest/parse';

const FIXTURES = join(__dirname, '../fixtures/payloads/evolution');
const fixture = (name: string): any => JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8'));
const RECEIVED_AT = 1_773_160_000_000;

function only(name: string | object): NormalisedEvent {
  const body = typeof name === 'string' ? fixture(name) : name;
  const parsed = parseEvolution(body, { receivedAt: RECEIVED_AT });
  expect(parsed.items).toHaveLength(1);
  expect(parsed.items[0]!.channelKey).toBe('loja-centro');
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

describe('parseEvolution: messages.upsert content types', () => {
  it('plain conversation text, with envelope fields', () => {
    const parsed = parseEvolution(fixture('messages-upsert-text'));
    expect(parsed.eventType).toBe('messages.upsert');
    expect(parsed.items).toEqual([
      {
        channelKey: 'loja-centro',
        event: {
          kind: 'message',
          providerMessageId: '3EB0C4F1A2B3D4E5F60718',
          direction: 'inbound',
          author: 'contact',
          chatType: 'direct',
          contact: { phone: '5511999990001', name: 'Ana Souza' },
          timestamp: 1773152525000,
          type: 'text',
          text: 'Oi, quero saber o preço do plano anual',
        },
      },
    ]);
  });

  it('extendedTextMessage keeps the 12-digit DDD 31 number as given and the quoted id', () => {
    const m = message('messages-upsert-extended-text');
    expect(m.type).toBe('text');
    expect(m.text).toBe('Vocês entregam em Belo Horizonte? Vi aqui: https://loja.example.com.br/plano-anual');
    expect(m.contact).toEqual({ phone: '553188887777', name: 'Bruno Lima' });
    expect(contactKey(m.contact)).toBe('5531988887777');
    expect(m.replyTo).toBe('3EB0AA11BB22CC33DD44EE');
  });

  it('unwraps ephemeralMessage', () => {
    const m = message('messages-upsert-ephemeral');
    expect(m.type).toBe('text');
    expect(m.text).toBe('Mensagem temporária: ainda tem desconto à vista?');
    expect(m.replyTo).toBe('3EB0F97B1D76A1B2133047');
  });

  it('unwraps nested wrappers (ephemeralMessage → viewOnceMessageV2 → imageMessage)', () => {
    const body = fixture('messages-upsert-image');
    body.data.message = { ephemeralMessage: { message: { viewOnceMessageV2: { message: { imageMessage: body.data.message.imageMessage } } } } };
    expect(message(body)).toMatchObject({ type: 'media', text: 'Comprovante do Pix', media: { kind: 'image' } });
  });

  it('click-to-WhatsApp ad: referral from top-level contextInfo.externalAdReply', () => {
    const m = message('messages-upsert-ad-referral');
    expect(m.referral).toMatchObject({ sourceType: 'ad', sourceId: '120210000000000001' });
    expect(m.replyTo).toBeUndefined();
  });

  it('buttonsResponseMessage → button_reply (enum type as a number)', () => {
    const m = message('messages-upsert-buttons-response');
    expect(m).toMatchObject({
      type: 'button_reply',
      text: 'Quero comprar',
      button: { id: 'quero_comprar', text: 'Quero comprar' },
      replyTo: '3EB0BUTTONMSG0000000001',
    });
  });

  it('templateButtonReplyMessage → template_button_reply', () => {
    const m = message('messages-upsert-template-button-reply');
    expect(m).toMatchObject({
      type: 'template_button_reply',
      text: 'Pode falar sim!',
      button: { id: 'pode_falar_sim', text: 'Pode falar sim!' },
      replyTo: '3EB0TEMPLATEMSG00000001',
    });
  });

  it('listResponseMessage → list_reply with selectedRowId and title', () => {
    const m = message('messages-upsert-list-response');
    expect(m).toMatchObject({
      type: 'list_reply',
      text: 'Plano anual',
      button: { id: 'plano_anual', text: 'Plano anual' },
      replyTo: '3EB0LISTMSG000000000001',
    });
  });

  it('interactiveResponseMessage → interactive_reply, id from the paramsJson string', () => {
    const m = message('messages-upsert-interactive-response');
    expect(m).toMatchObject({
      type: 'interactive_reply',
      text: 'Quero comprar',
      button: { id: 'quero_comprar', text: 'Quero comprar' },
      replyTo: '3EB0NATIVEFLOW000000001',
    });
  });

  it('interactiveResponseMessage: paramsJson in Evolution own form, broken, or absent', () => {
    const body = fixture('messages-upsert-interactive-response');
    const flow = body.data.message.interactiveResponseMessage.nativeFlowResponseMessage;

    flow.paramsJson = '{"display_text":"Quero comprar","id":"quero_comprar"}';
    expect(message(body).button).toEqual({ id: 'quero_comprar', text: 'Quero comprar' });

    flow.paramsJson = '{not json';
    expect(message(body).button).toEqual({ text: 'Quero comprar' });

    flow.paramsJson = '["quero_comprar"]';
    expect(message(body).button).toEqual({ text: 'Quero comprar' });

    delete body.data.message.interactiveResponseMessage.nativeFlowResponseMessage;
    expect(message(body)).toMatchObject({ type: 'interactive_reply', button: { text: 'Quero comprar' } });
  });

  it('image with caption; opaque binary fields in any representation', () => {
    const m = message('messages-upsert-image');
    expect(m.type).toBe('media');
    expect(m.text).toBe('Comprovante do Pix');
    expect(m.media).toEqual({
      kind: 'image',
      mimeType: 'image/jpeg',
      caption: 'Comprovante do Pix',
      url: expect.stringContaining('https://mmg.whatsapp.net/'),
    });
  });

  it('voice note: audio with voice=true, no text', () => {
    const m = message('messages-upsert-audio');
    expect(m.type).toBe('media');
    expect(m.text).toBeUndefined();
    expect(m.media).toMatchObject({ kind: 'audio', mimeType: 'audio/ogg; codecs=opus', voice: true });
  });

  it('prefers Evolution storage mediaUrl over the encrypted url', () => {
    const body = fixture('messages-upsert-audio');
    body.data.message.mediaUrl = 'https://s3.example.com.br/evolution/loja-centro/audio.ogg';
    expect(message(body).media?.url).toBe('https://s3.example.com.br/evolution/loja-centro/audio.ogg');
  });

  it('video, document (also wrapped in documentWithCaptionMessage) and sticker', () => {
    expect(message('messages-upsert-video')).toMatchObject({
      type: 'media',
      text: 'Olha o defeito na peça, não liga mais',
      media: { kind: 'video', mimeType: 'video/mp4', caption: 'Olha o defeito na peça, não liga mais' },
    });
    expect(message('messages-upsert-document')).toMatchObject({
      type: 'media',
      text: 'Segue o orçamento assinado',
      media: { kind: 'document', fileName: 'orçamento-1042.pdf', mimeType: 'application/pdf' },
    });
    expect(message('messages-upsert-document-with-caption-wrapper')).toMatchObject({
      type: 'media',
      text: 'Nota fiscal da compra',
      media: { kind: 'document', fileName: 'nota-fiscal.pdf' },
    });
    const sticker = message('messages-upsert-sticker');
    expect(sticker).toMatchObject({ type: 'media', media: { kind: 'sticker', mimeType: 'image/webp' } });
    expect(sticker.text).toBeUndefined();
  });

  it('reaction, and its removal (empty text)', () => {
    expect(message('messages-upsert-reaction')).toMatchObject({
      type: 'reaction',
      reaction: { messageId: '3EB0F97B1D76A1B2133047', emoji: '👍' },
    });
    const body = fixture('messages-upsert-reaction');
    body.data.message.reactionMessage.text = '';
    expect(message(body).reaction).toEqual({ messageId: '3EB0F97B1D76A1B2133047' });
  });

  it('location', () => {
    expect(message('messages-upsert-location')).toMatchObject({
      type: 'location',
      location: {
        latitude: -19.9320123,
        longitude: -43.9380456,
        name: 'Praça da Liberdade',
        address: 'Praça da Liberdade, Funcionários, Belo Horizonte - MG',
      },
    });
  });

  it('contactMessage and contactsArrayMessage: phones from waid= or the TEL value', () => {
    expect(message('messages-upsert-contact')).toMatchObject({
      type: 'contact',
      contacts: [{ name: 'Bruno Lima', phones: ['553188887777'] }],
    });
    expect(message('messages-upsert-contacts-array').contacts).toEqual([
      { name: 'Bruno Lima', phones: ['553188887777'] },
      { name: 'Carla Araújo', phones: ['5521977771234'] },
    ]);
  });

  it('anything else → unsupported, still a message with its id', () => {
    const m = message('messages-upsert-unsupported-poll');
    expect(m.type).toBe('unsupported');
    expect(m.providerMessageId).toBe('3EB0P0LL0000000000000001');
    expect(m.text).toBeUndefined();
  });

  it('empty message object → unsupported', () => {
    const body = fixture('messages-upsert-text');
    body.data.message = null;
    body.data.messageType = 'unknown';
    expect(message(body).type).toBe('unsupported');
  });
});

describe('parseEvolution: chats, authors and identities', () => {
  it('group: chatType group, groupId, contact = participant (phone from participantAlt, LID kept)', () => {
    const m = message('messages-upsert-group');
    expect(m.chatType).toBe('group');
    expect(m.groupId).toBe('120363025550001234@g.us');
    expect(m.contact).toEqual({ phone: '5511999990001', lid: '204981736452901', name: 'Ana Souza' });
  });

  it('group author known only by LID', () => {
    const body = fixture('messages-upsert-group');
    delete body.data.key.participantAlt;
    expect(message(body).contact).toEqual({ lid: '204981736452901', name: 'Ana Souza' });
  });

  it('group: a pushName that is the participant number is not a name', () => {
    const body = fixture('messages-upsert-group');
    body.data.pushName = '5511999990001';
    expect(message(body).contact.name).toBeUndefined();
  });

  it('status@broadcast → broadcast, contact = the story author', () => {
    const m = message('messages-upsert-status-broadcast');
    expect(m.chatType).toBe('broadcast');
    expect(m.groupId).toBeUndefined();
    expect(m.contact).toEqual({ phone: '553188887777', name: 'Bruno Lima' });
    expect(m.text).toBe('Promoção de março na loja do Bruno ☀️');
  });

  it('LID chat (2.3.5–2.3.6): phone from remoteJidAlt', () => {
    const m = message('messages-upsert-lid-2.3.6');
    expect(m.contact).toEqual({ phone: '5511999990001', lid: '204981736452901', name: 'Ana Souza' });
    expect(contactKey(m.contact)).toBe('5511999990001');
  });

  it('LID chat with no phone anywhere: the LID is the identity', () => {
    const m = message('messages-upsert-lid-only');
    expect(m.contact).toEqual({ lid: '204981736452901', name: 'Cliente Privado' });
    expect(contactKey(m.contact)).toBe('lid:204981736452901');
  });

  it('LID chat (≤ 2.3.0): phone from senderPn', () => {
    const m = message('messages-upsert-lid-senderpn');
    expect(m.contact).toMatchObject({ phone: '553188887777', lid: '204981736452901' });
    expect(contactKey(m.contact)).toBe('5531988887777');
  });

  it('2.4.0: phone remoteJid with a LID in remoteJidAlt', () => {
    expect(message('messages-upsert-pn-2.4').contact).toEqual({
      phone: '5511999990001',
      lid: '204981736452901',
      name: 'Ana Souza',
    });
  });

  it('device suffix in the JID is stripped', () => {
    const body = fixture('messages-upsert-text');
    body.data.key.remoteJid = '5511999990001:12@s.whatsapp.net';
    expect(message(body).contact.phone).toBe('5511999990001');
  });

  it('fromMe (typed on the phone) → outbound by a human; "Você" is not the contact name', () => {
    const m = message('messages-upsert-from-me');
    expect(m).toMatchObject({ direction: 'outbound', author: 'human', chatType: 'direct' });
    expect(m.contact).toEqual({ phone: '5511999990001' });
  });

  it('fromMe as the string "true" (older serialisers)', () => {
    const body = fixture('messages-upsert-from-me');
    body.data.key.fromMe = 'true';
    expect(message(body).direction).toBe('outbound');
  });

  it('send.message echo → outbound by the API, same parse as upsert', () => {
    const parsed = parseEvolution(fixture('send-message-text'));
    expect(parsed.eventType).toBe('send.message');
    expect(parsed.items[0]!.event).toEqual({
      kind: 'message',
      providerMessageId: '3EB0F97B1D76A1B2133047',
      direction: 'outbound',
      author: 'api',
      chatType: 'direct',
      contact: { phone: '5511999990001' },
      timestamp: 1773152900000,
      type: 'text',
      text: 'Olá Ana! Seu pedido #1042 foi confirmado.',
    });
  });

  it('send.message of buttons (viewOnceMessage.interactiveMessage): unsupported type, body as text', () => {
    const m = message('send-message-buttons');
    expect(m).toMatchObject({ direction: 'outbound', author: 'api', type: 'unsupported', text: 'Podemos te ligar agora?' });
  });

  it('send.message is outbound/api even if fromMe were missing', () => {
    const body = fixture('send-message-text');
    delete body.data.key.fromMe;
    expect(message(body)).toMatchObject({ direction: 'outbound', author: 'api' });
  });
});

describe('parseEvolution: timestamps', () => {
  const withTs = (ts: unknown, dateTime?: string) => {
    const body = fixture('messages-upsert-text');
    if (ts === undefined) delete body.data.messageTimestamp;
    else body.data.messageTimestamp = ts;
    if (dateTime !== undefined) body.date_time = dateTime;
    return message(body).timestamp;
  };
  it('seconds as number, numeric string or protobuf Long → ms', () => {
    expect(withTs(1773152525)).toBe(1773152525000);
    expect(withTs('1773152525')).toBe(1773152525000);
    expect(withTs({ low: 1773152525, high: 0, unsigned: false })).toBe(1773152525000);
  });
  it('falls back to date_time when messageTimestamp is absent', () => {
    expect(withTs(undefined, '2026-03-10T14:22:05.123Z')).toBe(Date.parse('2026-03-10T14:22:05.123Z'));
    expect(withTs(null, '2026-03-10T14:22:05.123Z')).toBe(Date.parse('2026-03-10T14:22:05.123Z'));
  });
  it('rejects a non-numeric timestamp string', () => {
    const body = fixture('messages-upsert-text');
    body.data.messageTimestamp = 'ontem';
    expect(zodPath(() => parseEvolution(body))).toBe('data.messageTimestamp');
  });
});

describe('parseEvolution: messages.update', () => {
  it('object data → one StatusEvent by keyId; time of receipt', () => {
    const parsed = parseEvolution(fixture('messages-update-read'), { receivedAt: RECEIVED_AT });
    expect(parsed.eventType).toBe('messages.update');
    expect(parsed.items).toEqual([
      {
        channelKey: 'loja-centro',
        event: {
          kind: 'status',
          providerMessageId: '3EB0F97B1D76A1B2133047',
          status: 'read',
          timestamp: RECEIVED_AT,
          recipient: '5511999990001',
        },
      },
    ]);
  });

  it('array data → one StatusEvent per item', () => {
    const parsed = parseEvolution(fixture('messages-update-array'), { receivedAt: RECEIVED_AT });
    expect(parsed.items.map((i) => i.event)).toEqual([
      expect.objectContaining({ kind: 'status', providerMessageId: '3EB0F97B1D76A1B2133047', status: 'delivered' }),
      expect.objectContaining({ kind: 'status', providerMessageId: '3EB0B0770N5000000000001', status: 'sent' }),
    ]);
  });

  it('maps every status name and number', () => {
    const statusOf = (status: unknown) => {
      const body = fixture('messages-update-read');
      body.data.status = status;
      return (only(body) as StatusEvent).status;
    };
    expect(['ERROR', 'PENDING', 'SERVER_ACK', 'DELIVERY_ACK', 'READ', 'PLAYED'].map(statusOf)).toEqual([
      'failed',
      'pending',
      'sent',
      'delivered',
      'read',
      'played',
    ]);
    expect([0, 1, 2, 3, 4, 5].map(statusOf)).toEqual(['failed', 'pending', 'sent', 'delivered', 'read', 'played']);
    expect(statusOf('3')).toBe('delivered');
  });

  it('numeric PLAYED in a group: no phone recipient', () => {
    expect(only('messages-update-group-played')).toEqual({
      kind: 'status',
      providerMessageId: '3EB0AUD10000000000000001',
      status: 'played',
      timestamp: RECEIVED_AT,
    });
  });

  it('ERROR → failed', () => {
    expect(only('messages-update-error')).toMatchObject({ kind: 'status', status: 'failed', recipient: '5511999990009' });
  });

  it('DELETED (unmapped: poll vote, edit) and poll updates are not delivery ticks', () => {
    expect(only('messages-update-poll-vote')).toEqual({ kind: 'unknown', eventType: 'messages.update' });
    const body = fixture('messages-update-read');
    body.data.status = 'DELETED';
    expect(only(body)).toEqual({ kind: 'unknown', eventType: 'messages.update' });
    const poll = fixture('messages-update-poll-vote');
    poll.data.status = 'SERVER_ACK'; // 2.3.7+ labels unmapped updates SERVER_ACK
    expect(only(poll).kind).toBe('unknown');
  });

  it('raw Baileys shape {key, update:{status}}', () => {
    const body = fixture('messages-update-read');
    body.data = { key: { remoteJid: '5511999990001@s.whatsapp.net', fromMe: true, id: '3EB0F97B1D76A1B2133047' }, update: { status: 4 } };
    expect(only(body)).toMatchObject({ kind: 'status', providerMessageId: '3EB0F97B1D76A1B2133047', status: 'read' });
  });

  it('missing keyId → ZodError at data.keyId (data.1.keyId in an array)', () => {
    const body = fixture('messages-update-read');
    delete body.data.keyId;
    expect(zodPath(() => parseEvolution(body))).toBe('data.keyId');
    const arr = fixture('messages-update-array');
    delete arr.data[1].keyId;
    expect(zodPath(() => parseEvolution(arr))).toBe('data.1.keyId');
  });
});

describe('parseEvolution: connection and QR code', () => {
  it('connection.update open', () => {
    const parsed = parseEvolution(fixture('connection-update-open'));
    expect(parsed.eventType).toBe('connection.update');
    expect(parsed.items[0]!.event).toEqual({
      kind: 'connection',
      state: 'open',
      statusReason: 200,
      wuid: '5511999990000@s.whatsapp.net',
      profileName: 'Loja Centro',
    });
  });

  it('CONNECTION_UPDATE close 401 (logged out)', () => {
    const parsed = parseEvolution(fixture('connection-update-close'));
    expect(parsed.eventType).toBe('connection.update');
    expect(parsed.items[0]!.event).toEqual({ kind: 'connection', state: 'close', statusReason: 401 });
  });

  it('qrcode.updated', () => {
    expect(only('qrcode-updated')).toEqual({
      kind: 'qrcode',
      code: expect.stringMatching(/^2@/),
      base64: expect.stringMatching(/^data:image\/png;base64,/),
      pairingCode: 'WZYEH1YY',
    });
  });

  it('qrcode.updated: QR code limit reached → error', () => {
    expect(only('qrcode-limit-reached')).toEqual({
      kind: 'qrcode',
      error: 'QR code limit reached, please login again',
    });
  });
});

describe('parseEvolution: event names', () => {
  it('accepts UPPER_SNAKE event names', () => {
    const parsed = parseEvolution(fixture('messages-upsert-upper-snake'));
    expect(parsed.eventType).toBe('messages.upsert');
    expect(parsed.items[0]!.event).toMatchObject({ kind: 'message', text: 'Tem pronta entrega?' });
    const send = fixture('send-message-text');
    send.event = 'SEND_MESSAGE';
    expect(parseEvolution(send).items[0]!.event).toMatchObject({ author: 'api' });
  });

  it('other events → UnknownEvent with the event name', () => {
    expect(parseEvolution(fixture('contacts-upsert'))).toEqual({
      eventType: 'contacts.upsert',
      items: [{ channelKey: 'loja-centro', event: { kind: 'unknown', eventType: 'contacts.upsert' } }],
    });
    expect(only('presence-update')).toEqual({ kind: 'unknown', eventType: 'presence.update' });
    const body = fixture('presence-update');
    body.event = 'GROUP_PARTICIPANTS_UPDATE';
    expect(parseEvolution(body).eventType).toBe('group-participants.update');
  });

  it('eventFromPathSuffix maps by-events URL suffixes', () => {
    expect(eventFromPathSuffix('messages-upsert')).toBe('messages.upsert');
    expect(eventFromPathSuffix('/messages-update')).toBe('messages.update');
    expect(eventFromPathSuffix('send-message')).toBe('send.message');
    expect(eventFromPathSuffix('send-message-update')).toBe('send.message.update');
    expect(eventFromPathSuffix('connection-update')).toBe('connection.update');
    expect(eventFromPathSuffix('qrcode-updated')).toBe('qrcode.updated');
    expect(eventFromPathSuffix('group-participants-update')).toBe('group-participants.update');
    expect(eventFromPathSuffix('typebot-change-status')).toBe('typebot.change-status');
    expect(eventFromPathSuffix('MESSAGES_UPSERT')).toBe('messages.upsert');
    expect(eventFromPathSuffix('some-future-event')).toBe('some.future.event');
    expect(eventFromPathSuffix('')).toBeNull();
    expect(eventFromPathSuffix('../etc/passwd')).toBeNull();
  });
});

describe('parseEvolution: malformed payloads', () => {
  it('missing key.id → ZodError with path data.key.id', () => {
    const bad = fixture('malformed-missing-key-id');
    expect(() => parseEvolution(bad)).toThrow();
    expect(zodPath(() => parseEvolution(bad))).toBe('data.key.id');
    try {
      parseEvolution(bad);
    } catch (err) {
      expect(describeParseError(err).message).toMatch(/^data\.key\.id: /);
    }
  });

  it('missing key.remoteJid, key, instance, event; non-object bodies', () => {
    const noJid = fixture('messages-upsert-text');
    delete noJid.data.key.remoteJid;
    expect(zodPath(() => parseEvolution(noJid))).toBe('data.key.remoteJid');
    const noKey = fixture('messages-upsert-text');
    delete noKey.data.key;
    expect(zodPath(() => parseEvolution(noKey))).toBe('data.key');
    const noInstance = fixture('messages-upsert-text');
    delete noInstance.instance;
    expect(zodPath(() => parseEvolution(noInstance))).toBe('instance');
    const noEvent = fixture('messages-upsert-text');
    delete noEvent.event;
    expect(zodPath(() => parseEvolution(noEvent))).toBe('event');
    expect(zodPath(() => parseEvolution(null))).toBe('');
    expect(zodPath(() => parseEvolution('messages.upsert'))).toBe('');
  });

  it('wrong type inside content → path into the content', () => {
    const body = fixture('messages-upsert-buttons-response');
    body.data.message.buttonsResponseMessage.selectedButtonId = { id: 'x' };
    expect(zodPath(() => parseEvolution(body))).toBe('data.message.buttonsResponseMessage.selectedButtonId');
  });

  it('connection.update without state', () => {
    const body = fixture('connection-update-open');
    delete body.data.state;
    expect(zodPath(() => parseEvolution(body))).toBe('data.state');
  });

  it('unknown extra keys anywhere are fine', () => {
    const body = fixture('messages-upsert-text');
    body.isLatest = true;
    body.data.key.novoCampo = 1;
    body.data.message.algoNovo = { a: 1 };
    expect(message(body).text).toBe('Oi, quero saber o preço do plano anual');
  });
});
