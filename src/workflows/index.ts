export { contactWorkflow } from './contact';
export { funnelRunWorkflow } from './funnel';
export { scheduledSendWorkflow, sendMessageWorkflow } from './sending';
export { followUpWorkflow } from './followUp';
export { retentionWorkflow } from './retention';
export { optOutDigestWorkflow } from './optOutDigest';
export { metricsRollupWorkflow } from './metricsRollup';
export { campaignWorkflow } from './campaign';
