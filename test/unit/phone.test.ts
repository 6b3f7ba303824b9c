import { canonicalPhone, contactKey, digitsOf, phoneFromClient } from '../../src/domain/phone';

describe('canonicalPhone', () => {
  it('adds the ninth digit to Brazilian mobiles stripped by Evolution (DDD >= 31)', () => {
    expect(canonicalPhone('553188887777@s.whatsapp.net')).toBe('5531988887777');
    expect(canonicalPhone('5531988887777')).toBe('5531988887777');
  });
  it('accepts +, spaces, dashes and parentheses', () => {
    expect(canonicalPhone('+55 (11) 99999-0001')).toBe('5511999990001');
  });
  it('keeps landlines and non-Brazilian numbers as they are', () => {
    expect(canonicalPhone('551133334444')).toBe('551133334444');
    expect(canonicalPhone('14155550100')).toBe('14155550100');
  });
  it('rejects what cannot be a phone', () => {
    expect(canonicalPhone('123')).toBeNull();
    expect(canonicalPhone('abc')).toBeNull();
  });
  it('strips JID device suffixes', () => {
    expect(digitsOf('5511999990001:12@s.whatsapp.net')).toBe('5511999990001');
  });
});

describe('contactKey', () => {
  it('prefers the phone, then the LID, then the BSUID', () => {
    expect(contactKey({ phone: '553188887777', lid: '204981736452901' })).toBe('5531988887777');
    expect(contactKey({ lid: '204981736452901@lid' })).toBe('lid:204981736452901');
    expect(contactKey({ userId: 'BR.1587668549511396' })).toBe('uid:BR.1587668549511396');
    expect(contactKey({})).toBeNull();
  });
});

describe('phoneFromClient (API input: Brazil unless told otherwise)', () => {
  it('gives Brazilian national numbers the country code, mobiles with their ninth digit', () => {
    expect(phoneFromClient('(11) 98888-7777')).toBe('5511988887777');
    expect(phoneFromClient('11988887777')).toBe('5511988887777');
    expect(phoneFromClient('011 98888-7777')).toBe('5511988887777');
    expect(phoneFromClient('31 8888-7777')).toBe('5531988887777'); // mobile written without its ninth digit
    expect(phoneFromClient('(21) 2555-1234')).toBe('552125551234'); // landline
  });
  it('takes numbers with + or 00, or with 55 already, as international', () => {
    expect(phoneFromClient('+55 11 98888-7777')).toBe('5511988887777');
    expect(phoneFromClient('5511988887777')).toBe('5511988887777');
    expect(phoneFromClient('553188887777')).toBe('5531988887777');
    expect(phoneFromClient('+1 415 555 0100')).toBe('14155550100');
    expect(phoneFromClient('0014155550100')).toBe('14155550100');
    expect(phoneFromClient('+65 9123 4567')).toBe('6591234567'); // Singapore, not DDD 65
  });
  it('leaves what is not a Brazilian national number to canonicalPhone', () => {
    expect(phoneFromClient('14155550100')).toBe('14155550100'); // 1 + 415: "14" is a DDD, but 155550100 is no mobile
    expect(phoneFromClient('12345')).toBeNull();
    expect(phoneFromClient('20988887777')).toBe('20988887777'); // DDD 20 does not exist
  });
});
