import { Router } from 'express';

export interface HealthCheck {
  name: string;
  /** Resolves when healthy; rejects (or times out) when not. */
  run(): Promise<void>;
}

export interface CheckResult {
  status: 'up' | 'down';
  latencyMs: number;
  error?: string;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

export async function runChecks(checks: HealthCheck[], timeoutMs: number): Promise<Record<string, CheckResult>> {
  const entries = await Promise.all(
    checks.map(async (check) => {
      const started = performance.now();
      try {
        await withTimeout(check.run(), timeoutMs);
        return [check.name, { status: 'up', latencyMs: Math.round(performance.now() - started) }] as const;
      } catch (err) {
        const latencyMs = Math.round(performance.now() - started);
        return [check.name, { status: 'down', latencyMs, error: (err as Error).message.split('\n')[0] }] as const;
      }
    }),
  );
  return Object.fromEntries(entries) as Record<string, CheckResult>;
}

/**
 * GET /health: 200 when every check is up, else 503 naming the failed ones. `info` adds
 * fields that never fail the service (AI on/off, the channels' states).
 */
export function healthRouter(
  checks: HealthCheck[],
  timeoutMs: number,
  info: () => Record<string, unknown> | Promise<Record<string, unknown>> = () => ({}),
): Router {
  const router = Router();
  router.get('/health', async (_req, res) => {
    const [results, extra] = await Promise.all([
      runChecks(checks, timeoutMs),
      withTimeout(Promise.resolve(info()), timeoutMs).catch((err: Error) => ({ infoError: err.message.split('\n')[0] })),
    ]);
    const failed = Object.entries(results)
      .filter(([, r]) => r.status === 'down')
      .map(([name]) => name);
    res.status(failed.length ? 503 : 200).json({
      status: failed.length ? 'unhealthy' : 'healthy',
      ...(failed.length ? { failed } : {}),
      checks: results,
      ...extra,
    });
  });
  return router;
}
