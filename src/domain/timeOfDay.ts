/**
 * "Until 09:00 in the tenant's timezone": the next instant (after `nowMs`) at that wall-clock
 * time. Pure: uses Intl only, so workflows can call it with workflow time.
 */
function zonedParts(ms: number, timeZone: string): { y: number; m: number; d: number; h: number; min: number; s: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(ms));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return { y: get('year'), m: get('month'), d: get('day'), h: get('hour'), min: get('minute'), s: get('second') };
}

/** Offset (ms) of `timeZone` from UTC at instant `ms` (São Paulo: -3 h). */
export function offsetAt(ms: number, timeZone: string): number {
  const p = zonedParts(ms, timeZone);
  return Date.UTC(p.y, p.m - 1, p.d, p.h, p.min, p.s) - Math.floor(ms / 1000) * 1000;
}

/**
 * The start of the window of length `windowMs` that holds `ms`, with windows aligned to
 * `timeZone`'s wall clock: a day window starts at local midnight, an hour window at the local
 * hour (whole-hour zones and half-hour ones alike). Windows of other lengths (tests shrink
 * them) are shifted by the same offset.
 */
export function zonedWindowStart(ms: number, windowMs: number, timeZone: string): number {
  const offset = offsetAt(ms, timeZone);
  return Math.floor((ms + offset) / windowMs) * windowMs - offset;
}

export function nextTimeOfDay(nowMs: number, hhmm: string, timeZone: string): number {
  const match = /^(\d{1,2}):(\d{2})$/.exec(hhmm);
  if (!match) throw new Error(`"${hhmm}" is not HH:MM`);
  const [hour, minute] = [Number(match[1]), Number(match[2])];
  const today = zonedParts(nowMs, timeZone);
  for (let addDays = 0; addDays <= 2; addDays++) {
    // Wall-clock target as if UTC, then shift by the zone's offset around that time.
    const wall = Date.UTC(today.y, today.m - 1, today.d + addDays, hour, minute, 0);
    let candidate = wall - offsetAt(wall, timeZone);
    candidate = wall - offsetAt(candidate, timeZone); // settle across DST changes
    if (candidate > nowMs) return candidate;
  }
  throw new Error('unreachable: a time of day recurs within two days');
}
