import { MIN_CACHED_WORKFLOWS, usableMemoryBytes, workerCacheSize } from '../../src/domain/workerCache';

const GB = 2 ** 30;

describe('worker cache sized to memory', () => {
  it('takes an explicit count as it is', () => {
    expect(workerCacheSize({ explicit: 4000, budgetMb: 10, totalMemoryBytes: 8 * GB })).toEqual({ maxCachedWorkflows: 4000, source: 'explicit' });
    expect(workerCacheSize({ explicit: 0, totalMemoryBytes: 8 * GB }).maxCachedWorkflows).toBe(0);
  });

  it('divides a configured budget by the memory of one cached workflow', () => {
    expect(workerCacheSize({ budgetMb: 1000, perWorkflowKb: 400, totalMemoryBytes: 64 * GB })).toEqual({
      maxCachedWorkflows: 2560,
      source: 'budget',
      budgetMb: 1000,
      perWorkflowKb: 400,
    });
  });

  it('defaults to a share of the memory, a container limit included', () => {
    // 8 GB host, a quarter: 2,048 MB / 400 KB.
    expect(workerCacheSize({ totalMemoryBytes: 8 * GB })).toMatchObject({ maxCachedWorkflows: 5242, source: 'memory-share', budgetMb: 2048 });
    // The same host, the process limited to 2 GB by its cgroup: a quarter of 2 GB.
    expect(workerCacheSize({ totalMemoryBytes: 8 * GB, constrainedMemoryBytes: 2 * GB })).toMatchObject({ maxCachedWorkflows: 1310, budgetMb: 512 });
    expect(workerCacheSize({ totalMemoryBytes: 8 * GB, share: 0.5, perWorkflowKb: 1024 })).toMatchObject({ maxCachedWorkflows: 4096 });
  });

  it('ignores a missing or meaningless container limit and keeps a floor', () => {
    expect(usableMemoryBytes(8 * GB, 0)).toBe(8 * GB);
    expect(usableMemoryBytes(8 * GB, undefined)).toBe(8 * GB);
    expect(usableMemoryBytes(8 * GB, 2 ** 62)).toBe(8 * GB); // "unlimited" cgroups report a huge number
    expect(workerCacheSize({ budgetMb: 1, totalMemoryBytes: 8 * GB }).maxCachedWorkflows).toBe(MIN_CACHED_WORKFLOWS);
  });
});
