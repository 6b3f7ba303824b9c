/**
 * Activities of the campaign workflow: a batch of sends (heartbeating its progress, so a
 * retry after a lost worker continues the same page), and the status changes of its
 * updates. Thin: services/campaignSender.ts does the work.
 */
import { Context } from '@temporalio/activity';
import { changeCampaignStatus, runCampaignBatch, type BatchRequest, type CampaignAction } from '../services/campaignSender';
import type { CampaignBatchResult, CampaignTransition } from '../workflows/types';
import type { ActivityDeps } from './deps';

export function createCampaignActivities(deps: ActivityDeps) {
  return {
    /** Sends to the campaign's next recipients until its page is full, it must wait, or it is done. */
    async runCampaignBatch(req: BatchRequest): Promise<CampaignBatchResult> {
      const ctx = Context.current();
      const earlier = (ctx.info.heartbeatDetails as { processed?: unknown } | undefined)?.processed;
      return runCampaignBatch(deps, req, {
        alreadyProcessed: typeof earlier === 'number' ? earlier : 0,
        progress: (processed) => ctx.heartbeat({ processed }),
      });
    },

    /** A pause, resume or cancel: the row, then (pause, cancel) the wait for sends in flight. */
    async changeCampaignStatus(params: { campaignId: string; action: CampaignAction; workflowNow: number; startAt?: number }): Promise<CampaignTransition> {
      return changeCampaignStatus(deps, params);
    },
  };
}
