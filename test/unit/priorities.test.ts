import { activityPriority, PriorityLevel, systemPriority, tenantPriority, WORK_PRIORITY } from '../../src/domain/priorities';

describe('priorities by kind of work', () => {
  it('puts due sends before clicks, clicks before follow-ups, campaigns and background work', () => {
    expect(WORK_PRIORITY.scheduledSend).toBe(1);
    expect(WORK_PRIORITY.funnelRun).toBe(2);
    expect(WORK_PRIORITY.contact).toBe(WORK_PRIORITY.funnelRun); // the contact workflow starts a click's run
    expect(WORK_PRIORITY.followUp).toBe(3);
    expect(WORK_PRIORITY.campaign).toBe(4);
    expect(WORK_PRIORITY.warmup).toBe(4);
    for (const kind of ['analysis', 'metricsRollup', 'optOutDigest', 'retention'] as const) expect(WORK_PRIORITY[kind]).toBe(5);
    // Every level is one the server knows (matching.priorityLevels defaults to 5).
    for (const level of Object.values(WORK_PRIORITY)) expect(Object.values(PriorityLevel)).toContain(level);
  });

  it("keys a tenant's work by the tenant and system work by nobody", () => {
    const tenant = '6f1c2d3e-0000-4000-8000-000000000001';
    expect(tenantPriority('funnelRun', tenant)).toEqual({ priorityKey: 2, fairnessKey: tenant });
    expect(tenantPriority('campaign', tenant)).toEqual({ priorityKey: 4, fairnessKey: tenant });
    expect(systemPriority('retention')).toEqual({ priorityKey: 5 });
    expect(() => tenantPriority('funnelRun', '')).toThrow(/tenant id/);
    expect(tenantPriority('contact', 'x'.repeat(80)).fairnessKey).toHaveLength(64);
  });

  it('gives activities only a level, so they keep the workflow’s fairness key', () => {
    expect(activityPriority('analysis')).toEqual({ priorityKey: 5 });
    expect(activityPriority('analysis')).not.toHaveProperty('fairnessKey');
  });
});
