import type { Request } from 'express';

/** A route path as Express keeps it on req.route (a string, or the list a route was declared with). */
function candidatePatterns(path: unknown): string[] {
  if (typeof path === 'string') return [path];
  if (Array.isArray(path)) return path.filter((p): p is string => typeof p === 'string');
  return [];
}

const segmentsOf = (path: string) => path.split('/').filter((s) => s !== '');

/**
 * The /metrics label of a request: `METHOD /the/route/:pattern` of the route that matched
 * (whatever ids the path carried), or `unmatched`. A fixed set, so `/x1`, `/x2`… or random
 * ids make no new series.
 *
 * Express keeps the matched route on req.route, with its path relative to the router's
 * mount point; by the time the response finishes the mount (req.baseUrl) may have been
 * restored, so the mount is recovered as the part of the request path before the segments
 * the pattern matched. Mounts are literal (`/api`): never an id.
 */
export function routeLabel(req: Request): string {
  const route = req.route as { path?: unknown } | undefined;
  if (!route) return 'unmatched';
  const actual = segmentsOf((req.originalUrl || req.url).split('?')[0] ?? '');
  for (const pattern of candidatePatterns(route.path)) {
    const wanted = segmentsOf(pattern);
    if (wanted.length > actual.length) continue;
    const tail = actual.slice(actual.length - wanted.length);
    const fits = wanted.every((segment, i) => segment.startsWith(':') || segment.startsWith('*') || segment.toLowerCase() === tail[i]?.toLowerCase());
    if (!fits) continue;
    const mount = actual.slice(0, actual.length - wanted.length).map((s) => s.toLowerCase());
    return `${req.method} /${[...mount, ...wanted].join('/')}`;
  }
  // A pattern this cannot line up with the path (optional or wildcard parts): the pattern alone.
  const [first] = candidatePatterns(route.path);
  return first ? `${req.method} ${first}` : 'unmatched';
}
