/**
 * Funnel definitions as plain types: shared by the zod schema (src/domain/funnel.ts), the
 * API, and the workflows (which import types only).
 */
export type MatchMode = 'equals' | 'contains' | 'startsWith' | 'regex';

export interface FunnelTrigger {
  /** `button`: the reply's payload/id, then its display text. `keyword`: the message text. */
  type: 'button' | 'keyword';
  phrase: string;
  match: MatchMode;
}

export type ReentryPolicy = 'ignore' | 'restart' | 'parallel';

export type FunnelMessage =
  | { type: 'text'; text: string; previewUrl?: boolean }
  | { type: 'media'; mediaType: 'image' | 'video' | 'document' | 'audio'; url: string; caption?: string; fileName?: string }
  | { type: 'buttons'; text: string; title?: string; footer?: string; buttons: Array<{ id: string; title: string }> }
  | {
      type: 'list';
      text: string;
      buttonText: string;
      title?: string;
      footer?: string;
      sections: Array<{ title: string; rows: Array<{ id: string; title: string; description?: string }> }>;
    }
  | { type: 'template'; name: string; language: string; variables?: string[] };

export interface ReplyBranch {
  /** Button id or display text (button replies). */
  button?: string;
  /** Keyword matched against the reply text. */
  keyword?: string;
  match?: MatchMode;
  next: string;
}

export type FunnelStep =
  | { id: string; type: 'send'; message: FunnelMessage; next?: string }
  | { id: string; type: 'delay'; durationMs?: number; untilTime?: string; next?: string }
  | { id: string; type: 'typing'; durationMs: number; next?: string }
  | {
      id: string;
      type: 'waitForReply';
      timeoutMs: number;
      branches: ReplyBranch[];
      default?: string;
      onTimeout?: string;
      saveAs?: string;
      next?: string;
    }
  | { id: string; type: 'tag'; tags: string[]; next?: string }
  | { id: string; type: 'untag'; tags: string[]; next?: string }
  | { id: string; type: 'set'; variable: string; value: string; next?: string }
  | { id: string; type: 'handover'; note?: string }
  | { id: string; type: 'goto'; target: string }
  | { id: string; type: 'end' };

export interface FunnelDefinition {
  name: string;
  active: boolean;
  priority: number;
  trigger: FunnelTrigger;
  reentry: ReentryPolicy;
  cooldownMs?: number;
  /** Only messages on this channel trigger it (default: any channel of the tenant). */
  channelId?: string;
  steps: FunnelStep[];
}

/** What the contact workflow needs to match and start funnels: no steps. */
export interface FunnelTriggerSpec {
  funnelId: string;
  name: string;
  version: number;
  priority: number;
  /** Creation time, epoch ms: the oldest wins a priority tie. */
  createdAt: number;
  trigger: FunnelTrigger;
  reentry: ReentryPolicy;
  cooldownMs?: number;
  channelId?: string;
}
