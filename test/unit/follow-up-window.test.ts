import { insideWindow, nextAllowedTime, parseWindows, weekdayOf } from '../../src/domain/followUpWindow';

const SP = 'America/Sao_Paulo'; // UTC-3, no DST since 2019
const at = (iso: string) => Date.parse(iso);

describe('follow-up windows', () => {
  const windows = parseWindows('09:00-12:00, 14:00-18:00');

  it('parses and rejects malformed windows', () => {
    expect(windows).toEqual([
      { start: '09:00', end: '12:00' },
      { start: '14:00', end: '18:00' },
    ]);
    expect(parseWindows('')).toEqual([]);
    expect(() => parseWindows('9h-12h')).toThrow(/HH:MM/);
    expect(() => parseWindows('25:00-26:00')).toThrow();
  });

  it('keeps a time inside a window and moves others to the next start (tenant timezone)', () => {
    expect(nextAllowedTime(at('2025-03-10T13:00:00Z'), windows, SP)).toBe(at('2025-03-10T13:00:00Z')); // 10:00 local
    expect(nextAllowedTime(at('2025-03-10T15:30:00Z'), windows, SP)).toBe(at('2025-03-10T17:00:00Z')); // 12:30 → 14:00
    expect(nextAllowedTime(at('2025-03-10T23:00:00Z'), windows, SP)).toBe(at('2025-03-11T12:00:00Z')); // 20:00 → 09:00 next day
  });

  it('handles windows across midnight and an empty list', () => {
    const night = parseWindows('22:00-02:00');
    expect(insideWindow(at('2025-03-11T02:00:00Z'), night[0]!, SP)).toBe(true); // 23:00 local
    expect(insideWindow(at('2025-03-11T06:00:00Z'), night[0]!, SP)).toBe(false); // 03:00 local
    expect(nextAllowedTime(12345, [], SP)).toBe(12345);
  });

  it('skips days that are not allowed', () => {
    const saturday = at('2025-03-15T13:00:00Z'); // Saturday 10:00 local
    expect(weekdayOf(saturday, SP)).toBe(6);
    expect(nextAllowedTime(saturday, windows, SP, [1, 2, 3, 4, 5])).toBe(at('2025-03-17T12:00:00Z')); // Monday 09:00
  });
});
