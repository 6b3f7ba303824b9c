/**
 * Activities of the warm-up workflow: one round (heartbeating through its pauses, so a lost
 * worker is noticed and the round retried; its sends are keyed, so none repeats), and the
 * status changes of its updates. Thin: services/warmupRounds.ts and services/warmups.ts do the work.
 */
import { Context } from '@temporalio/activity';
import { loadConfig } from '../config';
import { createAiClient, type AiClient } from '../services/ai';
import { runWarmupRound } from '../services/warmupRounds';
import { changeWarmupStatus, type WarmupAction } from '../services/warmups';
import type { WarmupRoundRequest, WarmupRoundResult, WarmupTransition } from '../workflows/warmupTypes';
import type { ActivityDeps } from './deps';

export function createWarmupActivities(deps: ActivityDeps) {
  let ai: AiClient | undefined | null = null;
  const aiClient = () => (ai === null ? (ai = createAiClient(deps.config ?? loadConfig())) : ai);
  return {
    /** Two of the plan's numbers talk for a round (or the round is skipped, and why). */
    async runWarmupRound(req: WarmupRoundRequest): Promise<WarmupRoundResult> {
      const ctx = Context.current();
      return runWarmupRound(deps, req, {
        heartbeat: (turns) => ctx.heartbeat({ turns }),
        sleep: (ms) => ctx.sleep(ms),
        ai: aiClient(),
      });
    },

    /** A pause, resume or cancel of the warm-up's row. */
    async changeWarmupStatus(params: { warmupId: string; action: WarmupAction }): Promise<WarmupTransition> {
      return changeWarmupStatus(deps.db, params);
    },
  };
}
