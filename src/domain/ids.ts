/** Workflow ids are business keys: one contact workflow per tenant + contact. */
export function contactWorkflowId(tenantId: string, contactKey: string): string {
  return `contact:${tenantId}:${contactKey}`;
}

/** One workflow per schedule. */
export function scheduleWorkflowId(scheduleId: string): string {
  return `schedule:${scheduleId}`;
}

/**
 * The update a schedule dispatcher sends when it hands a send back to the schedule's
 * workflow (an update, not a signal: a signal would not end the workflow's start delay).
 */
export const DISPATCH_RELEASED_UPDATE = 'dispatchReleased';
