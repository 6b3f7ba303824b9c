import { canonicalPhone, contactKey, digitsOf } from '../../src/domain/phone';

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
