/**
 * Splits an answer into WhatsApp-sized messages at sentence boundaries. Pure.
 *
 * Paragraphs (blank lines) always start a new message; sentences are packed into messages of
 * at most `maxChars`; a single sentence longer than that is cut at a word boundary. At most
 * `maxParts` messages: the rest is joined onto the last one. Abbreviations ("Sr.", "R$ 1.500,00",
 * "p.ex.", URLs) are not sentence ends.
 */
const ABBREVIATIONS = new Set(['sr', 'sra', 'srta', 'dr', 'dra', 'prof', 'profa', 'av', 'r', 'n', 'no', 'nº', 'p', 'ex', 'pex', 'etc', 'obs', 'tel', 'cel', 'aprox', 'mr', 'mrs', 'ms', 'vs', 'e.g', 'i.e', 'ltda', 'cia', 'min', 'máx', 'max', 'pág', 'pag']);

export function splitSentences(paragraph: string): string[] {
  const out: string[] = [];
  let start = 0;
  const re = /([.!?…]+)(["'”’)\]]*)(\s+)/g;
  for (let m = re.exec(paragraph); m; m = re.exec(paragraph)) {
    const end = m.index + m[1].length + m[2].length;
    const before = paragraph.slice(start, m.index);
    const lastWord = /([\p{L}.º]+)$/u.exec(before)?.[1]?.toLowerCase().replace(/\.$/, '') ?? '';
    const next = paragraph.slice(end + m[3].length, end + m[3].length + 1);
    if (m[1] === '.' && (ABBREVIATIONS.has(lastWord) || /^\p{Ll}/u.test(next))) continue;
    out.push(paragraph.slice(start, end).trim());
    start = end + m[3].length;
  }
  const rest = paragraph.slice(start).trim();
  if (rest) out.push(rest);
  return out.filter(Boolean);
}

function cutLong(sentence: string, maxChars: number): string[] {
  const parts: string[] = [];
  let rest = sentence;
  while (rest.length > maxChars) {
    let cut = rest.lastIndexOf(' ', maxChars);
    if (cut < maxChars / 2) cut = maxChars;
    parts.push(rest.slice(0, cut).trim());
    rest = rest.slice(cut).trim();
  }
  if (rest) parts.push(rest);
  return parts;
}

export function splitMessage(text: string, opts: { maxChars: number; maxParts: number }): string[] {
  const paragraphs = text
    .replace(/\r\n/g, '\n')
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter(Boolean);
  const parts: string[] = [];
  for (const paragraph of paragraphs) {
    if (paragraph.length <= opts.maxChars) {
      parts.push(paragraph);
      continue;
    }
    let current = '';
    for (const sentence of splitSentences(paragraph).flatMap((s) => cutLong(s, opts.maxChars))) {
      if (current && current.length + 1 + sentence.length > opts.maxChars) {
        parts.push(current);
        current = sentence;
      } else current = current ? `${current} ${sentence}` : sentence;
    }
    if (current) parts.push(current);
  }
  if (parts.length <= opts.maxParts) return parts;
  const head = parts.slice(0, opts.maxParts - 1);
  return [...head, parts.slice(opts.maxParts - 1).join('\n\n')];
}

/** How long to show "typing…" before a message of this length. */
export function typingMs(text: string, perCharMs: number, maxMs: number): number {
  return Math.min(maxMs, Math.round(text.length * perCharMs));
}
