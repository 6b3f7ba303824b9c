/**
 * Messages that cross into and out of the warm-up workflow (`warmup:<id>`). Types only.
 */
import type { WarmupPlan, WarmupRoundStatus, WarmupStatus } from '../domain/warmup';

/** Settings a warm-up workflow runs with, from the configuration when it was created (carried across continue-as-new). */
export interface WarmupTiming {
  /** With a number down, look again after this (WARMUP_CHANNEL_RECHECK). */
  recheckMs: number;
  heartbeatTimeoutMs: number;
  /** The longest a round's activity may run: its turns and their pauses, with room to spare. */
  roundMaxMs: number;
  /** Rounds per workflow run, then continue-as-new (WARMUP_ROUNDS_PER_RUN). */
  roundsPerRun: number;
}

export interface WarmupWorkflowInput {
  warmupId: string;
  tenantId: string;
  plan: WarmupPlan;
  timing: WarmupTiming;
  /** Carried across continue-as-new. */
  carried?: {
    state: WarmupStatus;
    /** The next round's number (its sends' keys are `warmup:<id>:<round>:<turn>`). */
    round: number;
    today?: { day: string; done: number };
    lastRoundAt?: number;
  };
}

export type WarmupWait = 'window' | 'quota' | 'delay' | 'channel';

/** What the warm-up workflow reports (its updates answer it, and the `warmupProgress` query). */
export interface WarmupProgress {
  warmupId: string;
  state: WarmupStatus;
  waitingFor?: WarmupWait;
  /** Epoch ms. */
  waitingUntil?: number;
  /** Rounds run so far (done, failed or skipped), across the workflow's runs. */
  rounds: number;
}

/** A round's request: its number, local day, and the workflow's time (the round's recorded start). */
export interface WarmupRoundRequest {
  warmupId: string;
  round: number;
  day: string;
  at: number;
}

/** How a round went; `stopped`: the plan was not running any more (its status now). */
export type WarmupRoundResult =
  | { status: WarmupRoundStatus; messages: number; reason?: string }
  | { status: 'stopped'; messages: number; planStatus: WarmupStatus };

/** An update's change to the warm-up row: whether it applied, and the status the row has now. */
export interface WarmupTransition {
  applied: boolean;
  status: WarmupStatus;
}
