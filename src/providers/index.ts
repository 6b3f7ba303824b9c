import { createEvolutionClient, type EvolutionClient, type EvolutionClientOptions } from './evolution';
import { createLancePilotClient, type LancePilotClient, type LancePilotClientOptions } from './lancepilot';
import { createMetaClient, type MetaClient, type MetaClientOptions } from './meta';
import { createUazapiClient, type UazapiClient, type UazapiClientOptions } from './uazapi';

export * from './types';
export * from './errors';
export { requestJson, retryAfterMs, joinUrl, DEFAULT_TIMEOUT_MS, type HttpResponse, type RequestJsonOptions, type HttpMethod } from './http';
export {
  createEvolutionClient,
  checkNumbers,
  classifyEvolutionError,
  evolutionNumber,
  evolutionSendRequest,
  type EvolutionClient,
  type EvolutionClientOptions,
  type EvolutionNumberCheck,
} from './evolution';
export {
  createMetaClient,
  classifyMetaError,
  metaErrorKind,
  metaMessageBody,
  metaRecipient,
  META_DEFAULT_BASE_URL,
  META_DEFAULT_GRAPH_VERSION,
  type MetaClient,
  type MetaClientOptions,
} from './meta';
export {
  createLancePilotClient,
  classifyLancePilotError,
  interactiveAsText,
  lancePilotMessageId,
  lancePilotSendRequest,
  LANCEPILOT_DEFAULT_BASE_URL,
  type LancePilotClient,
  type LancePilotClientOptions,
} from './lancepilot';
export {
  createUazapiClient,
  classifyUazapiError,
  uazapiLiteral,
  uazapiNumber,
  uazapiSendRequest,
  UAZAPI_TRACK_SOURCE,
  type UazapiClient,
  type UazapiClientOptions,
} from './uazapi';

export interface ProviderClientsOptions {
  /** Applies to every provider unless overridden in its own options. */
  timeoutMs?: number;
  evolution?: EvolutionClientOptions;
  meta?: MetaClientOptions;
  lancepilot?: LancePilotClientOptions;
  uazapi?: UazapiClientOptions;
}

export interface ProviderClients {
  evolution: EvolutionClient;
  meta: MetaClient;
  lancepilot: LancePilotClient;
  uazapi: UazapiClient;
}

/** The HTTP provider clients. The sandbox provider lives elsewhere and is added by the caller. */
export function createProviderClients(opts: ProviderClientsOptions = {}): ProviderClients {
  const t = opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {};
  return {
    evolution: createEvolutionClient({ ...t, ...opts.evolution }),
    meta: createMetaClient({ ...t, ...opts.meta }),
    lancepilot: createLancePilotClient({ ...t, ...opts.lancepilot }),
    uazapi: createUazapiClient({ ...t, ...opts.uazapi }),
  };
}
