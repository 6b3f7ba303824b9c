/**
 * Tenant regular expressions (funnel triggers and reply branches), run in linear time.
 *
 * JavaScript's own RegExp backtracks: `(a+)+$` against a few thousand `a`s and a `!` never
 * finishes, and a workflow stuck in a pattern stalls the worker thread every tenant shares.
 * Patterns are run by re2js instead: a pure JavaScript port of RE2 (automata, no
 * backtracking, time linear in the input). Chosen over `re2` (the native RE2 addon) because
 * this code runs inside Temporal's workflow sandbox, which bundles it and loads no native
 * addon, and because `re2` installs by downloading a prebuilt binary; re2js has no
 * dependencies, no Node built-ins, and nothing non-deterministic.
 *
 * RE2 refuses what cannot run in linear time (lookarounds, backreferences): such a pattern
 * is refused when the funnel is saved. Tenants write JavaScript syntax; it is translated
 * (`(?<name>…)`, `\u00e9`, `[^]`) before compiling. Pure and deterministic.
 */
import { RE2JS } from 're2js';

/** Longest pattern accepted (characters). */
export const MAX_PATTERN_LENGTH = 512;
/** Only this many leading characters of a text are matched. */
export const MAX_MATCH_INPUT = 4_096;

export type CompiledPattern = { ok: true; test: (text: string) => boolean } | { ok: false; reason: string };

const CACHE_LIMIT = 256;
const cache = new Map<string, CompiledPattern>();

/** Compiles `pattern` case-insensitively (Unicode), or says why it cannot be used. */
export function compileSafeRegex(pattern: string): CompiledPattern {
  const cached = cache.get(pattern);
  if (cached) return cached;
  const compiled = compile(pattern);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(pattern, compiled);
  return compiled;
}

function compile(pattern: string): CompiledPattern {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    return { ok: false, reason: `pattern is ${pattern.length} characters, above the ${MAX_PATTERN_LENGTH} limit` };
  }
  try {
    const re = RE2JS.compile(RE2JS.translateRegExp(pattern), RE2JS.CASE_INSENSITIVE);
    return { ok: true, test: (text) => re.test(text) };
  } catch (err) {
    return { ok: false, reason: `invalid regular expression: ${(err as Error).message}` };
  }
}

/** Why `pattern` cannot be saved, or undefined when it can. */
export function regexProblem(pattern: string): string | undefined {
  const compiled = compileSafeRegex(pattern);
  return compiled.ok ? undefined : compiled.reason;
}

/**
 * Put where a long text was cut: a noncharacter no text or phrase carries, so `$` (and an
 * `equals`) does not match at the cut as if the text ended there.
 */
export const CUT_MARK = '\uffff';

/**
 * `text` as matched: its first MAX_MATCH_INPUT characters (never half a surrogate pair),
 * followed by CUT_MARK when there was more.
 */
export function matchInput(text: string): string {
  if (text.length <= MAX_MATCH_INPUT) return text;
  let cut = text.slice(0, MAX_MATCH_INPUT);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut + CUT_MARK;
}

/** Does `pattern` match somewhere in (the first MAX_MATCH_INPUT characters of) `text`? False for an unusable pattern. */
export function safeRegexTest(pattern: string, text: string): boolean {
  const compiled = compileSafeRegex(pattern);
  return compiled.ok && compiled.test(matchInput(text));
}
