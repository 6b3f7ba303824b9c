/**
 * Hours of the day (tenant timezone) when follow-ups may go out. Pure: workflows call it
 * with workflow time. Windows may wrap midnight (`22:00-06:00`).
 */
import { nextTimeOfDay } from './timeOfDay';

export interface TimeWindow {
  start: string;
  end: string;
}

const HHMM = /^(\d{1,2}):(\d{2})$/;

/** `09:00-12:00,14:00-18:00` → windows; empty → [] (any time). Throws on a malformed window. */
export function parseWindows(spec: string | TimeWindow[] | undefined): TimeWindow[] {
  if (spec === undefined) return [];
  const list =
    typeof spec === 'string'
      ? spec
          .split(',')
          .map((w) => w.trim())
          .filter(Boolean)
          .map((w) => {
            const [start, end] = w.split('-').map((s) => s.trim());
            return { start: start ?? '', end: end ?? '' };
          })
      : spec;
  for (const w of list) {
    for (const t of [w.start, w.end]) {
      const m = HHMM.exec(t);
      if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) throw new Error(`"${t}" is not a time of day (HH:MM)`);
    }
    if (w.start === w.end) throw new Error(`window ${w.start}-${w.end} is empty`);
  }
  return list;
}

/** True when `ms` falls inside the window: its next end comes before its next start. */
export function insideWindow(ms: number, w: TimeWindow, timeZone: string): boolean {
  return nextTimeOfDay(ms, w.end, timeZone) < nextTimeOfDay(ms, w.start, timeZone);
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** Day of the week (0 = Sunday) of `ms` in `timeZone`. */
export function weekdayOf(ms: number, timeZone: string): number {
  return WEEKDAYS.indexOf(new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short' }).format(new Date(ms)));
}

function nextInWindows(ms: number, windows: TimeWindow[], timeZone: string): number {
  if (windows.length === 0) return ms;
  if (windows.some((w) => insideWindow(ms, w, timeZone))) return ms;
  return Math.min(...windows.map((w) => nextTimeOfDay(ms, w.start, timeZone)));
}

/**
 * `ms` itself when allowed, else the next allowed instant: inside a window (none: any time)
 * on an allowed day (none given: every day).
 */
export function nextAllowedTime(ms: number, windows: TimeWindow[], timeZone: string, days?: number[]): number {
  let candidate = nextInWindows(ms, windows, timeZone);
  if (!days || days.length === 0) return candidate;
  for (let i = 0; i < 8 && !days.includes(weekdayOf(candidate, timeZone)); i++) {
    candidate = nextInWindows(nextTimeOfDay(candidate, '00:00', timeZone), windows, timeZone);
  }
  return candidate;
}
