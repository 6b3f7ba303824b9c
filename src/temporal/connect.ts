import { Client, Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../domain/searchAttributes';

export interface TemporalClients {
  connection: Connection;
  client: Client;
}

/** Connects a client to Temporal; fails with a message naming the address when it does not answer. */
export async function connectTemporal(address: string, namespace: string): Promise<TemporalClients> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: '5s' });
    const client = new Client({ connection, namespace });
    return { connection, client };
  } catch (err) {
    throw new Error(`Temporal at ${address} is unreachable: ${(err as Error).message}`);
  }
}

const KEYWORD = 2; // temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
const GRPC_ALREADY_EXISTS = 6;

/** Registers zapflow's search attributes on a namespace; already-registered ones are fine. */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const searchAttributes = Object.fromEntries(Object.keys(SEARCH_ATTRIBUTES).map((name) => [name, KEYWORD]));
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (code !== GRPC_ALREADY_EXISTS) throw err;
  }
}

export interface TemporalPinger {
  ping: (timeoutMs: number) => Promise<void>;
  close: () => Promise<void>;
}

/**
 * Health probe on a connection of its own without the SDK's retry interceptor: a health
 * check must fail fast when Temporal is down, not retry in the background past its deadline.
 */
export function createTemporalPinger(address: string): TemporalPinger {
  const connection = Connection.lazy({ address, interceptors: [], connectTimeout: '1s' });
  return {
    ping: async (timeoutMs) => {
      await connection.withDeadline(Date.now() + timeoutMs, () => connection.workflowService.getSystemInfo({}));
    },
    close: () => connection.close(),
  };
}
