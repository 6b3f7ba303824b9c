import express, { Router } from 'express';
import { z } from 'zod';
import { createApp } from '../../src/api/app';
import { findTemporalCli } from '../../src/temporal/binary';
import { createTemporalPinger, type TemporalPinger } from '../../src/temporal/connect';
import { freePort, startDevServer } from '../../src/temporal/devServer';
import { createTestDb, temporalAddress, testConfig, testLog, type TestDb } from '../support/harness';
import { getJson, postJson, serve } from '../support/http';

describe('API foundation', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('GET /health answers 200 with both checks and their latency', async () => {
    const temporal = createTemporalPinger(temporalAddress());
    const app = createApp({ config: testConfig(), db: db.db, pingDb: db.ping, pingTemporal: temporal.ping, log: testLog });
    const server = await serve(app);
    try {
      const res = await getJson(`${server.url}/health`);
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('healthy');
      expect(res.body.checks.database).toMatchObject({ status: 'up', latencyMs: expect.any(Number) });
      expect(res.body.checks.temporal).toMatchObject({ status: 'up', latencyMs: expect.any(Number) });
    } finally {
      await server.close();
      await temporal.close();
    }
  });

  it('GET /health answers 503 naming temporal within 2 s when Temporal is stopped', async () => {
    const port = await freePort();
    const devServer = await startDevServer({ binary: findTemporalCli()!, port });
    const temporal = createTemporalPinger(devServer.address);
    const app = createApp({ config: testConfig(), db: db.db, pingDb: db.ping, pingTemporal: temporal.ping, log: testLog });
    const server = await serve(app);
    try {
      expect((await getJson(`${server.url}/health`)).status).toBe(200);
      await devServer.stop();
      const started = Date.now();
      const res = await getJson(`${server.url}/health`);
      const elapsed = Date.now() - started;
      expect(res.status).toBe(503);
      expect(res.body.status).toBe('unhealthy');
      expect(res.body.failed).toEqual(['temporal']);
      expect(res.body.checks.temporal.status).toBe('down');
      expect(res.body.checks.database.status).toBe('up');
      expect(elapsed).toBeLessThan(2000);
    } finally {
      await server.close();
      await temporal.close();
      await devServer.stop();
    }
  });

  it('answers JSON errors: unknown route 404, bad field 400 with its path, malformed JSON 400, too large 413', async () => {
    const temporal: TemporalPinger = createTemporalPinger(temporalAddress());
    const echo = Router();
    const schema = z.object({ phoneNumber: z.string().regex(/^\d+$/), message: z.object({ text: z.string().max(5) }) });
    echo.post('/echo', express.json({ limit: '1kb' }), (req, res) => {
      res.json(schema.parse(req.body));
    });
    const app = createApp({ config: testConfig(), db: db.db, pingDb: db.ping, pingTemporal: temporal.ping, log: testLog, routers: [echo] });
    const server = await serve(app);
    try {
      const missing = await getJson(`${server.url}/nope`);
      expect(missing.status).toBe(404);
      expect(missing.body.error).toMatchObject({ code: 'not_found', requestId: expect.any(String) });

      const invalid = await postJson(`${server.url}/echo`, { phoneNumber: 'x1', message: { text: 'too long' } });
      expect(invalid.status).toBe(400);
      expect(invalid.body.error.code).toBe('validation_failed');
      expect(invalid.body.error.details.map((d: { path: string }) => d.path)).toEqual(['phoneNumber', 'message.text']);

      const malformed = await postJson(`${server.url}/echo`, '{"phoneNumber": ');
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.code).toBe('malformed_json');

      const large = await postJson(`${server.url}/echo`, { phoneNumber: '1', message: { text: 'x'.repeat(5000) } });
      expect(large.status).toBe(413);
      expect(JSON.stringify(large.body)).not.toMatch(/at .*\.ts/); // no stack traces leak
    } finally {
      await server.close();
      await temporal.close();
    }
  });
});
