import { splitMessage, splitSentences, typingMs } from '../../src/domain/splitMessage';

describe('splitMessage', () => {
  it('keeps a short answer whole', () => {
    expect(splitMessage('Oi Ana! O plano anual custa R$ 1.200,00. Quer o link?', { maxChars: 320, maxParts: 4 })).toEqual([
      'Oi Ana! O plano anual custa R$ 1.200,00. Quer o link?',
    ]);
  });

  it('splits long answers at sentence boundaries, never inside numbers or abbreviations', () => {
    const text =
      'O plano anual custa R$ 1.200,00 e pode ser parcelado em 12x. A entrega é feita pelo Sr. João em até 3 dias úteis. ' +
      'Você também pode retirar na loja da Av. Paulista, 1000! Quer que eu envie o link de pagamento? Ele vale por 24 horas.';
    const parts = splitMessage(text, { maxChars: 120, maxParts: 4 });
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(120);
    expect(parts.join(' ')).toBe(text);
    expect(parts.some((p) => p.includes('R$ 1.200,00'))).toBe(true);
    expect(parts.some((p) => p.includes('Sr. João'))).toBe(true);
    expect(parts.some((p) => p.includes('Av. Paulista'))).toBe(true);
  });

  it('starts a new message at each paragraph and caps the number of parts', () => {
    const parts = splitMessage('Um.\n\nDois.\n\nTrês.\n\nQuatro.\n\nCinco.', { maxChars: 320, maxParts: 3 });
    expect(parts).toEqual(['Um.', 'Dois.', 'Três.\n\nQuatro.\n\nCinco.']);
  });

  it('cuts a sentence longer than the limit at a word boundary', () => {
    const parts = splitMessage('palavra '.repeat(60).trim(), { maxChars: 100, maxParts: 10 });
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(100);
    expect(parts.join(' ')).toBe('palavra '.repeat(60).trim());
  });

  it('finds sentences ending in ?, ! and …', () => {
    expect(splitSentences('Tudo bem? Sim! Então… vamos.')).toEqual(['Tudo bem?', 'Sim!', 'Então…', 'vamos.']);
  });

  it('types in proportion to length, capped', () => {
    expect(typingMs('a'.repeat(10), 35, 4000)).toBe(350);
    expect(typingMs('a'.repeat(1000), 35, 4000)).toBe(4000);
  });
});
