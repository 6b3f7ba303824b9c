/**
 * Funnels as data: create, version, activate, delete; and the tenant's trigger list that
 * the ingest hands to contact workflows.
 */
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { ACTIVE_RUN_STATUSES, getFunnel } from '../db/queries/funnels';
import { funnelRuns, funnels, funnelVersions } from '../db/schema';
import { funnelSchema, type FunnelInput } from '../domain/funnel';
import type { FunnelDefinition, FunnelTriggerSpec } from '../domain/funnelTypes';

export class FunnelNotFound extends Error {
  override name = 'FunnelNotFound';
}
export class FunnelHasActiveRuns extends Error {
  override name = 'FunnelHasActiveRuns';
}

export interface FunnelView {
  id: string;
  name: string;
  active: boolean;
  priority: number;
  version: number;
  definition: FunnelDefinition;
  createdAt: Date;
  updatedAt: Date;
}

async function view(db: Db, tenantId: string, funnelId: string): Promise<FunnelView> {
  const funnel = await getFunnel(db, { tenantId, funnelId });
  if (!funnel) throw new FunnelNotFound(`funnel ${funnelId} not found`);
  const [version] = await db
    .select()
    .from(funnelVersions)
    .where(and(eq(funnelVersions.funnelId, funnelId), eq(funnelVersions.version, funnel.currentVersion)));
  const definition = { ...(version!.definition as unknown as FunnelDefinition), active: funnel.active };
  return {
    id: funnel.id,
    name: funnel.name,
    active: funnel.active,
    priority: funnel.priority,
    version: funnel.currentVersion,
    definition,
    createdAt: funnel.createdAt,
    updatedAt: funnel.updatedAt,
  };
}

/**
 * Caches each tenant's active triggers for a moment: the ingest needs them for every
 * message. Writes through this service clear the tenant's entry at once.
 */
export class FunnelTriggerCache {
  private readonly entries = new Map<string, { specs: FunnelTriggerSpec[]; expires: number }>();
  constructor(
    private readonly db: Db,
    private readonly ttlMs: number,
  ) {}

  /** Loads in progress: when an entry expires under load, the dispatches waiting for it share one query. */
  private readonly loading = new Map<string, Promise<FunnelTriggerSpec[]>>();

  async forTenant(tenantId: string): Promise<FunnelTriggerSpec[]> {
    const hit = this.entries.get(tenantId);
    if (hit && hit.expires > Date.now()) return hit.specs;
    const inFlight = this.loading.get(tenantId);
    if (inFlight) return inFlight;
    const load: Promise<FunnelTriggerSpec[]> = this.load(tenantId)
      .then((specs) => {
        // Not if the tenant's funnels changed meanwhile (invalidate): the next call reads again.
        if (this.loading.get(tenantId) === load) this.entries.set(tenantId, { specs, expires: Date.now() + this.ttlMs });
        return specs;
      })
      .finally(() => {
        if (this.loading.get(tenantId) === load) this.loading.delete(tenantId);
      });
    this.loading.set(tenantId, load);
    return load;
  }

  private async load(tenantId: string): Promise<FunnelTriggerSpec[]> {
    const rows = await this.db
      .select({
        id: funnels.id,
        name: funnels.name,
        version: funnels.currentVersion,
        priority: funnels.priority,
        createdAt: funnels.createdAt,
        definition: funnelVersions.definition,
      })
      .from(funnels)
      .innerJoin(funnelVersions, and(eq(funnelVersions.funnelId, funnels.id), eq(funnelVersions.version, funnels.currentVersion)))
      .where(and(eq(funnels.tenantId, tenantId), eq(funnels.active, true), isNull(funnels.deletedAt)))
      .orderBy(asc(funnels.createdAt));
    return rows.map((r): FunnelTriggerSpec => {
      const def = r.definition as unknown as FunnelDefinition;
      return {
        funnelId: r.id,
        name: r.name,
        version: r.version,
        priority: r.priority,
        createdAt: r.createdAt.getTime(),
        trigger: def.trigger,
        reentry: def.reentry,
        ...(def.cooldownMs ? { cooldownMs: def.cooldownMs } : {}),
        ...(def.channelId ? { channelId: def.channelId } : {}),
      };
    });
  }

  invalidate(tenantId: string): void {
    this.entries.delete(tenantId);
    this.loading.delete(tenantId);
  }
}

export class FunnelService {
  constructor(
    private readonly db: Db,
    private readonly triggers?: FunnelTriggerCache,
  ) {}

  async create(tenantId: string, input: FunnelInput): Promise<FunnelView> {
    const def = funnelSchema.parse(input);
    const id = await this.db.transaction(async (tx) => {
      const [row] = await tx
        .insert(funnels)
        .values({ tenantId, name: def.name, active: def.active, priority: def.priority, trigger: def.trigger as never, currentVersion: 1 })
        .returning({ id: funnels.id });
      await tx.insert(funnelVersions).values({ funnelId: row!.id, version: 1, definition: def as never });
      return row!.id;
    });
    this.triggers?.invalidate(tenantId);
    return view(this.db, tenantId, id);
  }

  async list(tenantId: string): Promise<FunnelView[]> {
    const rows = await this.db
      .select({ id: funnels.id })
      .from(funnels)
      .where(and(eq(funnels.tenantId, tenantId), isNull(funnels.deletedAt)))
      .orderBy(asc(funnels.createdAt));
    return Promise.all(rows.map((r) => view(this.db, tenantId, r.id)));
  }

  get(tenantId: string, funnelId: string): Promise<FunnelView> {
    return view(this.db, tenantId, funnelId);
  }

  /** A new version; runs in flight keep executing the version they started with. */
  async update(tenantId: string, funnelId: string, input: FunnelInput): Promise<FunnelView> {
    const def = funnelSchema.parse(input);
    await this.db.transaction(async (tx) => {
      const [row] = await tx
        .update(funnels)
        .set({
          name: def.name,
          active: def.active,
          priority: def.priority,
          trigger: def.trigger as never,
          currentVersion: sql`${funnels.currentVersion} + 1`,
          updatedAt: sql`now()`,
        })
        .where(and(eq(funnels.id, funnelId), eq(funnels.tenantId, tenantId), isNull(funnels.deletedAt)))
        .returning({ version: funnels.currentVersion });
      if (!row) throw new FunnelNotFound(`funnel ${funnelId} not found`);
      await tx.insert(funnelVersions).values({ funnelId, version: row.version, definition: def as never });
    });
    this.triggers?.invalidate(tenantId);
    return view(this.db, tenantId, funnelId);
  }

  async setActive(tenantId: string, funnelId: string, active: boolean): Promise<FunnelView> {
    const rows = await this.db
      .update(funnels)
      .set({ active, updatedAt: sql`now()` })
      .where(and(eq(funnels.id, funnelId), eq(funnels.tenantId, tenantId), isNull(funnels.deletedAt)))
      .returning({ id: funnels.id });
    if (rows.length === 0) throw new FunnelNotFound(`funnel ${funnelId} not found`);
    this.triggers?.invalidate(tenantId);
    return view(this.db, tenantId, funnelId);
  }

  /** Deletes a funnel with no active runs (its history stays for the runs that used it). */
  async remove(tenantId: string, funnelId: string): Promise<void> {
    if (!(await getFunnel(this.db, { tenantId, funnelId }))) throw new FunnelNotFound(`funnel ${funnelId} not found`);
    const [active] = await this.db
      .select({ n: sql<number>`count(*)::int` })
      .from(funnelRuns)
      .where(and(eq(funnelRuns.funnelId, funnelId), inArray(funnelRuns.status, ACTIVE_RUN_STATUSES)));
    if ((active?.n ?? 0) > 0) throw new FunnelHasActiveRuns(`funnel ${funnelId} has ${active!.n} active run(s); cancel them or wait`);
    await this.db
      .update(funnels)
      .set({ deletedAt: sql`now()`, active: false, updatedAt: sql`now()` })
      .where(and(eq(funnels.id, funnelId), eq(funnels.tenantId, tenantId)));
    this.triggers?.invalidate(tenantId);
  }
}
