/**
 * A tenant's own settings through the API (`GET`/`PATCH /api/settings`): timezone, the admin
 * contact that hears about handovers and failed funnel runs, opt-out keywords and the
 * confirmation, the tenant's daily send quota. Conversation settings (AI, follow-ups) have
 * their own resource. `null` removes a setting (back to the default).
 */
import { z } from 'zod';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { findTenantChannel, getChannelExternalId } from '../db/queries/channels';
import { getTenant, updateTenantSettings as storeTenantSettings } from '../db/queries/tenants';
import type { SendLimitsSetting, TenantSettings } from '../domain/records';
import { clientPhoneSchema } from '../domain/phone';
import { DEFAULT_OPT_OUT_CONFIRMATION, DEFAULT_OPT_OUT_KEYWORDS } from '../domain/text';

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const tenantSettingsInput = z
  .object({
    timezone: z.string().refine(isTimeZone, 'must be an IANA time zone, e.g. America/Sao_Paulo').optional(),
    /** Who zapflow tells about handovers and failed funnel runs: a number, and the channel to write from. */
    adminContact: z.object({ instanceName: z.string().trim().min(1, 'is required'), phoneNumber: clientPhoneSchema }).strict().nullable().optional(),
    optOutKeywords: z.array(z.string().trim().min(1).max(40)).min(1).max(50).nullable().optional(),
    optOutConfirmation: z.string().trim().min(1).max(1_000).nullable().optional(),
    sendLimits: z.object({ perDay: z.number().int().min(0) }).strict().nullable().optional(),
  })
  .strict();

export interface TenantSettingsView {
  timezone: string;
  adminContact: { instanceName: string; phoneNumber: string } | null;
  optOutKeywords: string[];
  optOutConfirmation: string;
  /** perDay: 0 = unlimited; the SEND_TENANT_PER_DAY default unless set. */
  sendLimits: { perDay: number };
}

export async function tenantSettingsView(db: Db, config: Config, tenantId: string): Promise<TenantSettingsView> {
  const tenant = await getTenant(db, { tenantId });
  const settings: TenantSettings = tenant?.settings ?? {};
  let adminContact: TenantSettingsView['adminContact'] = null;
  if (settings.adminContact?.channelId) {
    const instanceName = await getChannelExternalId(db, { channelId: settings.adminContact.channelId });
    if (instanceName) adminContact = { instanceName, phoneNumber: settings.adminContact.phone };
  }
  const limits = settings.sendLimits as SendLimitsSetting | undefined;
  return {
    timezone: tenant?.timezone ?? 'America/Sao_Paulo',
    adminContact,
    optOutKeywords: settings.optOutKeywords?.length ? settings.optOutKeywords : DEFAULT_OPT_OUT_KEYWORDS,
    optOutConfirmation: settings.optOutConfirmation ?? DEFAULT_OPT_OUT_CONFIRMATION,
    sendLimits: { perDay: limits?.perDay ?? config.SEND_TENANT_PER_DAY },
  };
}

/** Validates (ZodError: 400 with paths), merges into the stored settings, returns the new view. */
export async function updateTenantSettings(db: Db, config: Config, tenantId: string, body: unknown): Promise<TenantSettingsView> {
  const input = tenantSettingsInput.parse(body ?? {});
  let admin: { channelId: string; phone: string } | null | undefined;
  if (input.adminContact) {
    const channel = await findTenantChannel(db, { tenantId, instanceName: input.adminContact.instanceName });
    // A ZodError like every other bad field: the API answers 400 with its path.
    if (!channel) {
      throw new z.ZodError([
        { code: 'custom', path: ['adminContact', 'instanceName'], message: `no channel "${input.adminContact.instanceName}" for this tenant`, input: input.adminContact.instanceName },
      ]);
    }
    admin = { channelId: channel.id, phone: input.adminContact.phoneNumber };
  } else admin = input.adminContact;

  await storeTenantSettings(db, {
    tenantId,
    timezone: input.timezone,
    change: (current) => {
      const next: TenantSettings = { ...current };
      const apply = <K extends keyof TenantSettings>(key: K, value: TenantSettings[K] | null | undefined) => {
        if (value === undefined) return;
        if (value === null) delete next[key];
        else next[key] = value;
      };
      apply('adminContact', admin);
      apply('optOutKeywords', input.optOutKeywords);
      apply('optOutConfirmation', input.optOutConfirmation);
      apply('sendLimits', input.sendLimits === null ? null : input.sendLimits ? { ...(next.sendLimits as object | undefined), ...input.sendLimits } : undefined);
      return next;
    },
  });
  return tenantSettingsView(db, config, tenantId);
}
