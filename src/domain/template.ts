/** `{{name}}`, `{{phone}}` and `{{variable}}` in funnel texts; unknown names render empty. Pure. */
export function renderTemplate(text: string, values: Record<string, string | undefined>): string {
  return text.replace(/\{\{\s*([\w.-]+)\s*\}\}/g, (_, key: string) => values[key] ?? '');
}
