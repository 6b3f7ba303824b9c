/**
 * Text normalisation for matching: case, accents and repeated or surrounding spaces ignored.
 * Pure and deterministic: used by workflows as well as the API.
 */
export function normaliseForMatch(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}

export const DEFAULT_OPT_OUT_KEYWORDS = ['PARE', 'STOP', 'SAIR', 'CANCELAR', 'DESCADASTRAR'];

/** The one message an opted-out contact still gets (tenant setting `optOutConfirmation` overrides). */
export const DEFAULT_OPT_OUT_CONFIRMATION = 'Pronto! Você não receberá mais mensagens automáticas. Se mudar de ideia, é só nos chamar.';

/** True when the whole message is an opt-out keyword (punctuation around it ignored: "Pare!"). */
export function isOptOut(text: string | undefined, keywords: string[]): boolean {
  if (!text) return false;
  const cleaned = normaliseForMatch(text).replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
  if (!cleaned) return false;
  return keywords.some((keyword) => normaliseForMatch(keyword) === cleaned);
}
