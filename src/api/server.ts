import http from 'node:http';
import type { Express } from 'express';

export interface ApiServer {
  server: http.Server;
  url: string;
  /** Stops accepting, lets in-flight requests finish (up to graceMs), then closes. */
  close(graceMs?: number): Promise<void>;
}

/** The address to show a user: a wildcard host is reached as localhost. */
export function displayUrl(host: string, port: number): string {
  return `http://${host === '0.0.0.0' || host === '::' ? 'localhost' : host}:${port}`;
}

export async function listen(app: Express, port: number, host: string): Promise<ApiServer> {
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000; // longer than typical proxy idle timeouts
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as { port: number };
  return {
    server,
    url: displayUrl(host, address.port),
    close(graceMs = 10_000) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}
