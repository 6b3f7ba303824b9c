/** Workflow ids are business keys: one contact workflow per tenant + contact. */
export function contactWorkflowId(tenantId: string, contactKey: string): string {
  return `contact:${tenantId}:${contactKey}`;
}
