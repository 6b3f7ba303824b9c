import { z } from 'zod';

/**
 * Phone numbers and contact keys.
 *
 * A contact is keyed by its canonical phone: digits with country code, and for Brazilian
 * mobiles always the 13-digit form with the ninth digit. Evolution (Baileys) drops the
 * ninth digit for area codes 31 and up and Meta may alter it too, so `5531988887777` and
 * `553188887777` must be one contact.
 */

/** Digits only; strips `+`, spaces, dashes, parentheses and a JID suffix (`@s.whatsapp.net`, `:12`). */
export function digitsOf(input: string): string {
  const beforeAt = input.split('@')[0] ?? '';
  const beforeDevice = beforeAt.split(':')[0] ?? '';
  return beforeDevice.replace(/\D+/g, '');
}

/**
 * Canonical phone key: digits with country code; Brazilian mobiles in their 13-digit form.
 * Returns null when the input cannot be a phone number (too short or too long for E.164).
 */
export function canonicalPhone(input: string): string | null {
  let digits = digitsOf(input);
  if (digits.length < 8 || digits.length > 15) return null;
  // Brazil: 55 + DDD (2 digits, no leading 0) + subscriber. Mobiles have 9 digits starting
  // with 9; an 8-digit subscriber starting with 6-9 is a mobile without its ninth digit.
  if (digits.startsWith('55') && digits.length === 12) {
    const ddd = digits.slice(2, 4);
    const subscriber = digits.slice(4);
    if (/^[1-9][1-9]$/.test(ddd) && /^[6-9]/.test(subscriber)) digits = `55${ddd}9${subscriber}`;
  }
  return digits;
}

/**
 * Key for a contact within a tenant: the canonical phone when known, else `lid:<digits>`
 * for a WhatsApp LID, else `uid:<id>` for a Meta business-scoped user id.
 */
export function contactKey(identity: { phone?: string; lid?: string; userId?: string }): string | null {
  if (identity.phone) {
    const phone = canonicalPhone(identity.phone);
    if (phone) return phone;
  }
  if (identity.lid) return `lid:${digitsOf(identity.lid)}`;
  if (identity.userId) return `uid:${identity.userId}`;
  return null;
}

/** True for keys that are real phone numbers (sendable by number). */
export function isPhoneKey(key: string): boolean {
  return /^\d+$/.test(key);
}

/** Brazilian area codes (DDD) in use. */
const BRAZIL_DDD = new Set(
  [11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99].map(String),
);

/** A Brazilian number as Brazilians write it: DDD + a 9-digit mobile or an 8-digit number. */
function isBrazilianNational(digits: string): boolean {
  if (!BRAZIL_DDD.has(digits.slice(0, 2))) return false;
  const subscriber = digits.slice(2);
  return (subscriber.length === 9 && subscriber.startsWith('9')) || (subscriber.length === 8 && /^[2-9]/.test(subscriber));
}

/**
 * A phone typed by a person or sent by an API client. With `+` or `00` it is international
 * as given. Without them, a Brazilian national number ("(11) 98888-7777", "011 98888-7777",
 * "31 8888-7777") gets the country code 55: zapflow's users are Brazilian, and sending
 * "11988887777" as is would go to a +1 number. Anything else is taken as digits with
 * country code. Provider payloads always carry the country code: use canonicalPhone there.
 */
export function phoneFromClient(input: string): string | null {
  const trimmed = input.trim();
  let digits = digitsOf(trimmed);
  if (trimmed.startsWith('+')) return canonicalPhone(digits);
  if (digits.startsWith('00')) return canonicalPhone(digits.slice(2));
  if (digits.startsWith('0') && isBrazilianNational(digits.slice(1))) digits = digits.slice(1); // trunk prefix
  if (isBrazilianNational(digits)) return canonicalPhone(`55${digits}`);
  return canonicalPhone(digits);
}

/** A phone number field of an API request: phoneFromClient, or a 400 naming the field. */
export const clientPhoneSchema = z.string({ message: 'is required' }).transform((value, ctx) => {
  const phone = phoneFromClient(value);
  if (!phone) {
    ctx.addIssue({ code: 'custom', message: 'must be a phone number, e.g. +55 11 99999-0001 or (11) 99999-0001' });
    return z.NEVER;
  }
  return phone;
});
