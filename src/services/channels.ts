import { DomainError } from '../domain/errors';
import { credentialFields } from '../db/credentials';
import { z } from 'zod';
import type { Db } from '../db/client';
import { changeChannel, insertChannel, listChannelRows, type ChannelRow } from '../db/queries/channels';
import { PROVIDERS, type ChannelSettings } from '../domain/records';
import { getTenant } from '../db/queries/tenants';
import { lancePilotMappingSchema } from '../ingest/parse/lancepilot';

/** Public base URLs; per channel overridable (tests and staging point them anywhere). */
export const DEFAULT_BASE_URLS: Record<string, string | undefined> = {
  meta: 'https://graph.facebook.com',
  lancepilot: 'https://lancepilot.com/api/v3',
  evolution: undefined, // self-hosted: the URL is required
  uazapi: undefined, // each customer's own server, https://<subdomain>.uazapi.com: required
  sandbox: undefined,
};

export const addChannelSchema = z
  .object({
    tenantId: z.uuid({ message: 'must be a tenant id (uuid)' }),
    provider: z.enum(PROVIDERS),
    externalId: z.string().trim().min(1, 'is required'),
    name: z.string().optional(),
    baseUrl: z.url().optional(),
    apiKey: z.string().optional(),
    webhookSecret: z.string().optional(),
    appSecret: z.string().optional(),
    verifyToken: z.string().optional(),
    accessToken: z.string().optional(),
    workspaceId: z.string().optional(),
    allowGroups: z.boolean().optional(),
  })
  .superRefine((value, ctx) => {
    if (value.provider === 'evolution' && !value.baseUrl) {
      ctx.addIssue({ code: 'custom', path: ['baseUrl'], message: 'is required for evolution (your Evolution server URL)' });
    }
    if (value.provider === 'uazapi') {
      if (!value.baseUrl) ctx.addIssue({ code: 'custom', path: ['baseUrl'], message: 'is required for uazapi (your server, https://<subdomain>.uazapi.com)' });
      if (!value.apiKey) ctx.addIssue({ code: 'custom', path: ['apiKey'], message: 'is required for uazapi (the instance token)' });
    }
  });
export type AddChannelInput = z.input<typeof addChannelSchema>;

/**
 * Uazapi signs nothing: every webhook body carries the instance token (providers.md §3.2),
 * so the token is the channel's webhook secret, found by its hash like any other.
 */
function uazapiWebhookSecret(provider: string, apiKey: string | null | undefined): string | undefined {
  return provider === 'uazapi' && apiKey ? apiKey : undefined;
}

export class ChannelConflict extends DomainError {
  override name = 'ChannelConflict';
  constructor(message: string) {
    super('Conflict', message);
  }
}

export async function addChannel(db: Db, input: AddChannelInput) {
  const value = addChannelSchema.parse(input);
  if (!(await getTenant(db, { tenantId: value.tenantId }))) throw new ChannelConflict(`tenant ${value.tenantId} does not exist`);
  const credentials = Object.fromEntries(
    Object.entries({
      apiKey: value.apiKey,
      webhookSecret: value.webhookSecret ?? uazapiWebhookSecret(value.provider, value.apiKey),
      appSecret: value.appSecret,
      verifyToken: value.verifyToken,
      accessToken: value.accessToken,
      workspaceId: value.workspaceId,
    }).filter(([, v]) => v !== undefined),
  );
  const row = await insertChannel(db, {
    tenantId: value.tenantId,
    provider: value.provider,
    externalId: value.externalId,
    name: value.name,
    baseUrl: value.baseUrl ?? DEFAULT_BASE_URLS[value.provider],
    credentials,
    settings: value.allowGroups !== undefined ? { allowGroups: value.allowGroups } : {},
  });
  if (!row) {
    throw new ChannelConflict(`a ${value.provider} channel with external id "${value.externalId}" already exists`);
  }
  return row;
}

const secret = z.string().min(1).nullable().optional();
const limit = z.number().int().min(0);

/**
 * A channel's changes (`zapflow channels update`, `PATCH /admin/channels/:id`): credentials
 * (null removes one), display name, base URL, whether groups trigger automation, the
 * LancePilot field mapping (so a captured webhook shape is supported by configuration), and
 * the channel's quotas and pacing (`sendLimits`, overriding SEND_CHANNEL_* and SEND_PACING_*;
 * null: back to those). Settings are merged; the running API reads them within 10 s.
 */
export const updateChannelSchema = z
  .object({
    name: z.string().trim().min(1).nullable().optional(),
    baseUrl: z.url().optional(),
    apiKey: secret,
    webhookSecret: secret,
    appSecret: secret,
    verifyToken: secret,
    accessToken: secret,
    workspaceId: secret,
    allowGroups: z.boolean().optional(),
    lancepilotMapping: lancePilotMappingSchema.partial().strict().nullable().optional(),
    sendLimits: z
      .object({ perMinute: limit, perHour: limit, perDay: limit, minGapMs: limit, jitterMs: limit })
      .partial()
      .strict()
      .nullable()
      .optional(),
  })
  .strict();

const CREDENTIAL_KEYS = ['apiKey', 'webhookSecret', 'appSecret', 'verifyToken', 'accessToken', 'workspaceId'] as const;

/** A channel as operators see it: which credentials are set, never their values. */
export function channelView(row: ChannelRow) {
  const set = new Set(credentialFields(row.credentials));
  return {
    channelId: row.id,
    tenantId: row.tenantId,
    provider: row.provider,
    externalId: row.externalId,
    name: row.name,
    baseUrl: row.baseUrl,
    credentialsSet: CREDENTIAL_KEYS.filter((k) => set.has(k)),
    settings: row.settings,
  };
}

export async function listChannels(db: Db, params: { tenantId?: string } = {}) {
  return (await listChannelRows(db, params)).map(channelView);
}

export class ChannelNotFound extends DomainError {
  override name = 'ChannelNotFound';
  constructor(message: string) {
    super('NotFound', message);
  }
}

/** Applies a change to the channel with this id (or external id); returns its new view. */
export async function updateChannel(db: Db, params: { channel: string; change: unknown }) {
  const change = updateChannelSchema.parse(params.change ?? {});
  const byId = z.uuid().safeParse(params.channel).success;
  const result = await changeChannel(db, {
    ...(byId ? { id: params.channel } : { externalId: params.channel }),
    change: (row) => {
      const credentials: Record<string, unknown> = { ...(row.credentials as Record<string, unknown>) };
      for (const key of CREDENTIAL_KEYS) {
        if (change[key] === null) delete credentials[key];
        else if (change[key] !== undefined) credentials[key] = change[key];
      }
      // A new Uazapi instance token is also what its webhooks will carry (unless a secret of its own is set).
      const followsToken = row.credentials.webhookSecret === undefined || row.credentials.webhookSecret === row.credentials.apiKey;
      if (row.provider === 'uazapi' && change.apiKey !== undefined && change.webhookSecret === undefined && followsToken) {
        if (change.apiKey === null) delete credentials.webhookSecret;
        else credentials.webhookSecret = uazapiWebhookSecret('uazapi', change.apiKey);
      }
      const settings: ChannelSettings = { ...row.settings };
      if (change.allowGroups !== undefined) settings.allowGroups = change.allowGroups;
      for (const key of ['lancepilotMapping', 'sendLimits'] as const) {
        const value = change[key];
        if (value === null) delete settings[key];
        else if (value !== undefined) settings[key] = { ...(settings[key] as Record<string, unknown> | undefined), ...value };
      }
      return {
        credentials,
        settings,
        ...(change.name !== undefined ? { name: change.name } : {}),
        ...(change.baseUrl !== undefined ? { baseUrl: change.baseUrl } : {}),
      };
    },
  });
  if (result.outcome !== 'updated') {
    throw new ChannelNotFound(
      result.outcome === 'ambiguous' ? `external id ${params.channel} names several channels: use the channel id` : `channel ${params.channel} not found`,
    );
  }
  return channelView(result.row);
}
