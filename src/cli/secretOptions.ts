/**
 * Secret values given to the CLI. Arguments are visible to every user of the machine (`ps`,
 * /proc/<pid>/cmdline) and land in shell histories, so a secret option also takes `@path`
 * (the file's contents) or `-` (standard input, for one option per command).
 */
import fs from 'node:fs';
import { CliError } from './output';

/** The channel credential options (commander's camelCase names). */
export const SECRET_OPTIONS = ['apiKey', 'webhookSecret', 'appSecret', 'verifyToken', 'accessToken'] as const;

/** How the help text says it. */
export const FROM_FILE_OR_STDIN = '(or @file, or - to read it from standard input)';

/** Replaces `@path` and `-` values of the secret options by what they name, trimmed. */
export function resolveSecretOptions<T extends Record<string, unknown>>(opts: T, readStdin: () => string = () => fs.readFileSync(0, 'utf8')): T {
  const out: Record<string, unknown> = { ...opts };
  const fromStdin = SECRET_OPTIONS.filter((k) => out[k] === '-');
  if (fromStdin.length > 1) throw new CliError(`only one option can be read from standard input (${fromStdin.map(flagOf).join(', ')})`, 2);
  for (const key of SECRET_OPTIONS) {
    const value = out[key];
    if (typeof value !== 'string') continue;
    let resolved = value;
    if (value === '-') resolved = readStdin();
    else if (value.startsWith('@')) {
      try {
        resolved = fs.readFileSync(value.slice(1), 'utf8');
      } catch (err) {
        throw new CliError(`${flagOf(key)}: cannot read ${value.slice(1)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 2);
      }
    }
    resolved = resolved.trim();
    if (!resolved) throw new CliError(`${flagOf(key)}: empty`, 2);
    out[key] = resolved;
  }
  return out as T;
}

function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}
