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

/**
 * Replays every file with one replay worker: the workflow code is bundled once, and one
 * worker starts and stops (a worker per history bundled the code each time, and the
 * start/stop churn could trip the SDK core's pollers on a loaded machine).
 */
export async function replayFiles(
  files: string[],
  bundle: WorkflowBundleWithSourceMap | { codePath: string } | { workflowsPath: string },
): Promise<ReplayFileResult[]> {
  const recorded = files.map((file) => ({ file, ...readRecordedHistory(file) }));
  const options = 'workflowsPath' in bundle ? { workflowsPath: bundle.workflowsPath } : { workflowBundle: bundle };
  // The replay worker caches by workflow id: a second recording of the same workflow gets a
  // suffix so the two never share a cache entry (no workflow code reads its own id).
  const ids = new Set<string>();
  const replayIds = recorded.map((r, i) => {
    const id = ids.has(r.workflowId) ? `${r.workflowId}#${i}` : r.workflowId;
    ids.add(id);
    return id;
  });
  const byId = new Map<string, ReplayFileResult>();
  const histories = recorded.map((r, i) => ({ workflowId: replayIds[i], history: historyFromJSON(r.history) }));
  for await (const result of Worker.runReplayHistories(options, histories)) {
    const err = result.error;
    const cause = (err as { cause?: Error } | undefined)?.cause;
    byId.set(result.workflowId, {
      file: '',
      workflowId: result.workflowId,
      ok: !err,
      ...(err ? { error: `${err.name}: ${err.message}${cause ? ` (${cause.message})` : ''}` } : {}),
    });
  }
  return recorded.map((r, i) => {
    const result = byId.get(replayIds[i]);
    return { ...(result ?? { ok: false, error: 'not replayed' }), file: r.file, workflowId: r.workflowId };
  });
}

