/**
 * Funnels as data: create, version, activate, delete; and the tenant's trigger list that
 * the ingest hands to contact workflows.
 */
import { DomainError } from '../domain/errors';
import type { Db } from '../db/client';
import { countActiveRunsOfFunnel } from '../db/queries/funnelRuns';
import {
  getFunnel,
  getFunnelVersion,
  insertFunnel,
  insertFunnelVersion,
  listActiveFunnelDefinitions,
  listFunnelIds,
  markFunnelDeleted,
  setFunnelActive,
  type FunnelWrite,
} from '../db/queries/funnels';
import { funnelSchema } from '../domain/funnel';
import type { FunnelDefinition, FunnelTriggerSpec } from '../domain/funnelTypes';

export class FunnelNotFound extends DomainError {
  override name = 'FunnelNotFound';
  constructor(message: string) {
    super('NotFound', message);
  }
}
export class FunnelHasActiveRuns extends DomainError {
  override name = 'FunnelHasActiveRuns';
  constructor(message: string) {
    super('Conflict', message);
  }
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

function toWrite(def: FunnelDefinition): FunnelWrite {
  return { name: def.name, active: def.active, priority: def.priority, trigger: def.trigger, definition: def };
}

async function view(db: Db, tenantId: string, funnelId: string): Promise<FunnelView> {
  const funnel = await getFunnel(db, { tenantId, funnelId });
  if (!funnel) throw new FunnelNotFound(`funnel ${funnelId} not found`);
  const version = await getFunnelVersion(db, { funnelId, version: funnel.currentVersion });
  const definition = { ...(version.definition as unknown as FunnelDefinition), active: funnel.active };
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
    const rows = await listActiveFunnelDefinitions(this.db, { tenantId });
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

  /** `input`: a request body; ZodError (400 with paths) when it is not a valid funnel. */
  async create(tenantId: string, input: unknown): Promise<FunnelView> {
    const id = await insertFunnel(this.db, { tenantId, funnel: toWrite(funnelSchema.parse(input)) });
    this.triggers?.invalidate(tenantId);
    return view(this.db, tenantId, id);
  }

  async list(tenantId: string): Promise<FunnelView[]> {
    const ids = await listFunnelIds(this.db, { tenantId });
    return Promise.all(ids.map((id) => view(this.db, tenantId, id)));
  }

  get(tenantId: string, funnelId: string): Promise<FunnelView> {
    return view(this.db, tenantId, funnelId);
  }

  /** A new version; runs in flight keep executing the version they started with. */
  async update(tenantId: string, funnelId: string, input: unknown): Promise<FunnelView> {
    const funnel = toWrite(funnelSchema.parse(input));
    if (!(await insertFunnelVersion(this.db, { tenantId, funnelId, funnel }))) throw new FunnelNotFound(`funnel ${funnelId} not found`);
    this.triggers?.invalidate(tenantId);
    return view(this.db, tenantId, funnelId);
  }

  async setActive(tenantId: string, funnelId: string, active: boolean): Promise<FunnelView> {
    if (!(await setFunnelActive(this.db, { tenantId, funnelId, active }))) throw new FunnelNotFound(`funnel ${funnelId} not found`);
    this.triggers?.invalidate(tenantId);
    return view(this.db, tenantId, funnelId);
  }

  /** Deletes a funnel with no active runs (its history stays for the runs that used it). */
  async remove(tenantId: string, funnelId: string): Promise<void> {
    if (!(await getFunnel(this.db, { tenantId, funnelId }))) throw new FunnelNotFound(`funnel ${funnelId} not found`);
    const active = await countActiveRunsOfFunnel(this.db, { funnelId });
    if (active > 0) throw new FunnelHasActiveRuns(`funnel ${funnelId} has ${active} active run(s); cancel them or wait`);
    await markFunnelDeleted(this.db, { tenantId, funnelId });
    this.triggers?.invalidate(tenantId);
  }
}
