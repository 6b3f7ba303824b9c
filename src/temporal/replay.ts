/**
 * Replays recorded workflow histories against the current workflow code: a change that
 * would break running workflows (nondeterminism) fails here before it ships.
 *
 * protobufjs 8 is a direct dependency of zapflow so that npm hoists it and the Temporal
 * packages share one copy: with grpc's protobufjs 7 at the top, each of them got its own,
 * and history JSON failed to parse ("type must be a Type").
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

export interface ReplayFileResult {
  file: string;
  workflowId: string;
  ok: boolean;
  /** The first divergence, for a nondeterminism error. */
  error?: string;
}

/** A recorded history file: `{ workflowId, workflowType, history }` (history as Temporal's JSON). */
export interface RecordedHistory {
  workflowId: string;
  workflowType: string;
  history: unknown;
}

export function readRecordedHistory(file: string): RecordedHistory {
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  if (json && typeof json === 'object' && 'history' in json && 'workflowId' in json) return json as RecordedHistory;
  // A plain `temporal workflow show --output json` export: the history itself.
  return { workflowId: path.basename(file, '.json'), workflowType: 'unknown', history: json };
}

export async function replayFiles(
  files: string[],
  bundle: WorkflowBundleWithSourceMap | { codePath: string } | { workflowsPath: string },
): Promise<ReplayFileResult[]> {
  const results: ReplayFileResult[] = [];
  for (const file of files) {
    const recorded = readRecordedHistory(file);
    try {
      const options = 'workflowsPath' in bundle ? { workflowsPath: bundle.workflowsPath } : { workflowBundle: bundle };
      await Worker.runReplayHistory(options, historyFromJSON(recorded.history), recorded.workflowId);
      results.push({ file, workflowId: recorded.workflowId, ok: true });
    } catch (err) {
      const cause = (err as { cause?: Error }).cause;
      results.push({ file, workflowId: recorded.workflowId, ok: false, error: `${(err as Error).name}: ${(err as Error).message}${cause ? ` (${cause.message})` : ''}` });
    }
  }
  return results;
}
