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
