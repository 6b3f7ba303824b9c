import { ConfigError, loadConfig } from '../../src/config';
import { parseDuration } from '../../src/domain/duration';

describe('config', () => {
  it('has embedded defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(3000);
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.TEMPORAL_ADDRESS).toBeUndefined();
    expect(config.TEMPORAL_UI_PORT).toBe(8233);
    expect(config.CONTACT_IDLE_TIMEOUT).toBe(600_000);
  });

  it('parses durations and booleans', () => {
    const config = loadConfig({ CONTACT_IDLE_TIMEOUT: '3s', TEMPORAL_DEV_FAST_SQLITE: 'false', DATABASE_URL: '' });
    expect(config.CONTACT_IDLE_TIMEOUT).toBe(3000);
    expect(config.TEMPORAL_DEV_FAST_SQLITE).toBe(false);
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it('names the bad variable in one line', () => {
    expect(() => loadConfig({ PORT: 'abc' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'abc' })).toThrow(/^Invalid configuration: PORT: /);
    expect(() => loadConfig({ CONTACT_IDLE_TIMEOUT: 'soon' })).toThrow(/CONTACT_IDLE_TIMEOUT: "soon" is not a duration/);
    expect(() => loadConfig({ DATABASE_URL: 'not a url' })).toThrow(/DATABASE_URL/);
  });

  it('parseDuration understands units', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('4h')).toBe(14_400_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration(250)).toBe(250);
    expect(parseDuration('-1')).toBeNull();
    expect(parseDuration('tomorrow')).toBeNull();
  });
});
