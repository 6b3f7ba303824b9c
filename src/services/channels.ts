import { z } from 'zod';
import type { Db } from '../db/client';
import { channels, PROVIDERS } from '../db/schema';
import { getTenant } from '../db/queries/channels';

/** Public base URLs; per channel overridable (tests and staging point them anywhere). */
export const DEFAULT_BASE_URLS: Record<string, string | undefined> = {
  meta: 'https://graph.facebook.com',
  lancepilot: 'https://lancepilot.com/api/v3',
  evolution: undefined, // self-hosted: the URL is required
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
  });
export type AddChannelInput = z.input<typeof addChannelSchema>;

export class ChannelConflict extends Error {
  override name = 'ChannelConflict';
}

export async function addChannel(db: Db, input: AddChannelInput) {
  const value = addChannelSchema.parse(input);
  if (!(await getTenant(db, { tenantId: value.tenantId }))) throw new ChannelConflict(`tenant ${value.tenantId} does not exist`);
  const credentials = Object.fromEntries(
    Object.entries({
      apiKey: value.apiKey,
      webhookSecret: value.webhookSecret,
      appSecret: value.appSecret,
      verifyToken: value.verifyToken,
      accessToken: value.accessToken,
      workspaceId: value.workspaceId,
    }).filter(([, v]) => v !== undefined),
  );
  const rows = await db
    .insert(channels)
    .values({
      tenantId: value.tenantId,
      provider: value.provider,
      externalId: value.externalId,
      name: value.name,
      baseUrl: value.baseUrl ?? DEFAULT_BASE_URLS[value.provider],
      credentials,
      settings: value.allowGroups !== undefined ? { allowGroups: value.allowGroups } : {},
    })
    .onConflictDoNothing()
    .returning();
  if (rows.length === 0) {
    throw new ChannelConflict(`a ${value.provider} channel with external id "${value.externalId}" already exists`);
  }
  return rows[0]!;
}
