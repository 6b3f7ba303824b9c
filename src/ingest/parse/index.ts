/**
 * Webhook parsers: provider body → `ParsedWebhook` (normalised events per channel key).
 * Each parser throws the ZodError on a body it cannot accept; `describeParseError` turns
 * that into the message and field path stored with the rejected event.
 */
export {
  parseEvolution,
  eventFromPathSuffix,
  normaliseEvolutionEventName,
  evolutionStatus,
  type EvolutionParseOptions,
} from './evolution';
export { parseMeta, type MetaParseOptions } from './meta';
export { parseUazapi, uazapiStatus, MAX_RECEIPT_IDS, type UazapiParseOptions } from './uazapi';
export { MAX_TEXT_CHARS } from './limits';
export {
  parseLancePilot,
  lancePilotMappingSchema,
  defaultLancePilotMapping,
  readPath,
  type LancePilotMapping,
  type LancePilotParseOptions,
} from './lancepilot';

interface IssueLike {
  path: PropertyKey[];
  message: string;
  code?: string;
  errors?: IssueLike[][];
}

/** Duck-typed: `instanceof ZodError` fails across module realms (jest, bundles). */
function zodIssues(err: unknown): IssueLike[] | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { name?: unknown; issues?: unknown };
  return e.name === 'ZodError' && Array.isArray(e.issues) ? (e.issues as IssueLike[]) : undefined;
}

/** For a failed union, the deepest issue among its branches: the most specific path. */
function mostSpecific(issue: IssueLike): IssueLike {
  if (issue.code !== 'invalid_union' || !Array.isArray(issue.errors)) return issue;
  let best = issue;
  for (const branch of issue.errors) {
    const first = branch[0];
    if (!first) continue;
    const candidate = mostSpecific({ ...first, path: [...issue.path, ...first.path] });
    if (candidate.path.length > best.path.length) best = candidate;
  }
  return best;
}

/**
 * `{path, message}` for a parse failure. For a ZodError: its first issue, `path` dotted
 * (`data.key.id`, `entry.0.changes.0.value.messages.1.id`; empty for the root) and
 * `message` prefixed with that path (`data.key.id: Invalid input: expected string, received
 * undefined`). Any other error: its message and an empty path.
 */
export function describeParseError(err: unknown): { message: string; path: string } {
  const issues = zodIssues(err);
  if (issues && issues.length > 0) {
    const issue = mostSpecific(issues[0]);
    const path = issue.path.map((p) => (typeof p === 'symbol' ? p.toString() : String(p))).join('.');
    return { message: path ? `${path}: ${issue.message}` : issue.message, path };
  }
  if (err instanceof Error) return { message: err.message, path: '' };
  return { message: String(err), path: '' };
}
