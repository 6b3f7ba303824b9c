/** The engine's floor for bench/funnels.ts: a workflow that does nothing. */
export async function emptyWorkflow(): Promise<void> {}
