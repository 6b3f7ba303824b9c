/**
 * Bounds every parser applies to what a webhook says (issue 20): texts no longer than
 * WhatsApp's own limit, and message times WhatsApp could have produced. Pure: no I/O.
 */
import { z } from 'zod';
import type { MessageEvent } from '../../domain/events';

/** WhatsApp's own limit for a text message (characters): longer texts are cut here and flagged. */
export const MAX_TEXT_CHARS = 65_536;

/** Earliest acceptable message time: WhatsApp did not exist before 2009. */
export const EARLIEST_TIMESTAMP_MS = Date.UTC(2009, 0, 1);
/** Latest acceptable message time, ahead of the time of receipt (clock skew, time zones). */
export const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;

function cut(value: string | undefined): { value: string | undefined; cut: boolean } {
  if (value === undefined || value.length <= MAX_TEXT_CHARS) return { value, cut: false };
  let head = value.slice(0, MAX_TEXT_CHARS);
  const last = head.charCodeAt(head.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) head = head.slice(0, -1); // never half a surrogate pair
  return { value: head, cut: true };
}

/**
 * The event with its text, caption and button fields cut at MAX_TEXT_CHARS; `truncated: true`
 * when anything was cut. Returns the same object when nothing was too long.
 */
export function capTexts(event: MessageEvent): MessageEvent {
  const text = cut(event.text);
  const caption = cut(event.media?.caption);
  const buttonText = cut(event.button?.text);
  const buttonId = cut(event.button?.id);
  if (!text.cut && !caption.cut && !buttonText.cut && !buttonId.cut) return event;
  const out: MessageEvent = { ...event, truncated: true };
  if (text.cut) out.text = text.value;
  if (caption.cut && event.media) out.media = { ...event.media, caption: caption.value };
  if ((buttonText.cut || buttonId.cut) && event.button) {
    out.button = {
      ...event.button,
      ...(buttonId.cut ? { id: buttonId.value } : {}),
      ...(buttonText.cut ? { text: buttonText.value } : {}),
    };
  }
  return out;
}

/**
 * `ms` when it is a time a WhatsApp message can have (from 2009 to a day after `now`), else
 * a ZodError at `path` (the field it came from, from the body's root): the body is then
 * stored as rejected with that path.
 */
export function checkTimestamp(ms: number, path: PropertyKey[], now: number): number {
  if (ms >= EARLIEST_TIMESTAMP_MS && ms <= now + MAX_FUTURE_MS) return ms;
  const when = Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : String(ms);
  throw new z.ZodError([
    {
      code: 'custom',
      path,
      message: `timestamp out of range (${when}): expected a time between 2009 and a day after receipt`,
      input: undefined,
    },
  ]);
}
