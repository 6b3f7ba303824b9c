/**
 * Messages that cross into workflows. Types only: workflow code stays free of runtime imports.
 */
import type { InboundType, MessageAuthor } from '../domain/events';

/** One inbound (or human-typed) message, as the ingest hands it to the contact workflow. */
export interface ContactMessage {
  /** zapflow's message row id. */
  messageId: string;
  providerMessageId: string;
  channelId: string;
  direction: 'inbound' | 'outbound';
  author: MessageAuthor;
  type: InboundType;
  text?: string;
  button?: { id?: string; text?: string };
  /** Provider time, epoch ms. */
  timestamp: number;
  /** Contact's name as the provider gave it. */
  name?: string;
}

export interface ContactWorkflowInput {
  tenantId: string;
  contactKey: string;
  /** Carried across continue-as-new. */
  state?: ContactState;
}

export interface ContactState {
  /** Most recent message ids already handled (bounded). */
  seen: string[];
  lastInboundAt?: number;
  optedOut: boolean;
  /** Automation paused by a human on the phone until this time (epoch ms). */
  pausedUntil?: number;
  handled: number;
}

/** Tenant settings the contact workflow needs, sent along with every message. */
export interface ContactPolicy {
  optOutKeywords: string[];
  /** How long a human typing on the business phone pauses automation, ms. */
  humanPauseMs: number;
  /** Idle time after which the contact workflow ends, ms. */
  idleTimeoutMs: number;
}

export interface InboundSignalPayload {
  message: ContactMessage;
  policy: ContactPolicy;
  /** The contact's opt-out as stored when the message was dispatched. */
  contactOptedOut?: boolean;
}
