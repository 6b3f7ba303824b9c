/**
 * Per-tenant daily AI token budgets (AI_TENANT_DAILY_TOKENS): a tenant's day is its own
 * timezone's calendar day. Pure: Intl only.
 */
import { nextTimeOfDay } from './timeOfDay';

const HOUR = 3_600_000;

/** The instant the calendar day containing `nowMs` began in `timeZone` (DST-safe). */
export function startOfDay(nowMs: number, timeZone: string): number {
  // The first midnight after a point safely inside yesterday, then forward while the next one has passed.
  let midnight = nextTimeOfDay(nowMs - 26 * HOUR, '00:00', timeZone);
  for (let next = nextTimeOfDay(midnight, '00:00', timeZone); next <= nowMs; next = nextTimeOfDay(midnight, '00:00', timeZone)) midnight = next;
  return midnight;
}

/** Why no AI call may be made (the budget is spent), or undefined. `limit` 0: unlimited. */
export function budgetRefusal(limit: number, spentTokens: number): string | undefined {
  if (limit <= 0 || spentTokens < limit) return undefined;
  return `daily AI token budget of ${limit} spent`;
}
