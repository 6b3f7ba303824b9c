/**
 * Keyword extraction for knowledge search. Pure. Text is lower-cased and stripped of
 * accents (so "preço" finds "preco"), stop words dropped, and each term cut to a prefix
 * (`entreg` matches entrega, entregas, entregam) for a crude, language-agnostic stemming.
 */
const STOP_WORDS = new Set(
  (
    'a o e é de da do das dos em no na nos nas um uma uns umas para pra pro por com sem que se' +
    ' me te lhe nos vos eu tu ele ela eles elas voce voces meu minha seu sua isso isto esse essa este esta' +
    ' aquele aquela ao aos as os ou mas mais menos muito muita ja nao sim tem ter tenho qual quais quando' +
    ' como onde porque pois entao tambem so sobre ate foi ser sao era estou esta estao ha vai vou quero queria' +
    ' gostaria pode posso podem oi ola bom boa dia tarde noite obrigado obrigada favor ok' +
    ' the and or of to in on for with is are was be do does did have has can could would i you we they it this that what how'
  ).split(/\s+/),
);

export const TERM_PREFIX = 6;

export function normaliseSearchText(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** Distinct search terms of a text (prefixes), most informative first (longer words first), at most `max`. */
export function queryTerms(text: string, max = 16): string[] {
  const words = normaliseSearchText(text)
    .split(' ')
    .filter((w) => w.length >= 3 && !STOP_WORDS.has(w));
  const seen = new Set<string>();
  const terms: string[] = [];
  for (const w of [...words].sort((a, b) => b.length - a.length)) {
    const term = w.slice(0, TERM_PREFIX);
    if (seen.has(term)) continue;
    seen.add(term);
    terms.push(term);
    if (terms.length >= max) break;
  }
  return terms;
}

/** A tsquery (OR of prefix terms) over `to_tsvector('simple', …)`; undefined when nothing to search. */
export function toPrefixTsQuery(terms: string[]): string | undefined {
  const safe = terms.map((t) => t.replace(/[^\p{L}\p{N}]/gu, '')).filter(Boolean);
  return safe.length ? safe.map((t) => `${t}:*`).join(' | ') : undefined;
}
