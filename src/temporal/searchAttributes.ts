import { SEARCH_ATTRIBUTES } from '../domain/searchAttributes';

/** `--search-attribute K=Keyword` flags for the CLI dev server. */
export function devServerSearchAttributeArgs(): string[] {
  return Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]);
}
