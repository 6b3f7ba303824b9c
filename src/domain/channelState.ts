/**
 * A channel's connection state as zapflow spells it on the wire (the onboarding diagram),
 * whatever the provider calls it. Pure: workflows, services and the API share it.
 *
 *   creating → qr → connecting → connected ⇄ disconnected (the provider reconnects by itself)
 *                                    └──────→ closed (logged out, banned: a new QR is needed)
 */
export const CHANNEL_STATES = ['creating', 'qr', 'connecting', 'connected', 'disconnected', 'closed', 'unknown'] as const;
export type ChannelState = (typeof CHANNEL_STATES)[number];

/**
 * Baileys disconnect codes after which Evolution does not reconnect by itself
 * (providers.md §1.8): 401 logged out, 402, 403 forbidden/banned, 406. Uazapi (whatsmeow)
 * reports the same WhatsApp codes in its `lastDisconnectReason`.
 */
const FINAL_EVOLUTION_REASONS = new Set([401, 402, 403, 406]);

/** Evolution's `connection.update` / `connectionState` (`open`, `connecting`, `close`, `refused`) in zapflow's words. */
export function stateFromEvolution(state: string, statusReason?: number): ChannelState {
  switch (state) {
    case 'open':
      return 'connected';
    case 'connecting':
      return 'connecting';
    case 'close':
      return statusReason !== undefined && FINAL_EVOLUTION_REASONS.has(statusReason) ? 'closed' : 'disconnected';
    // QR attempts exhausted: nobody scanned; a new QR is fetched on demand.
    case 'refused':
      return 'closed';
    default:
      return (CHANNEL_STATES as readonly string[]).includes(state) ? (state as ChannelState) : 'unknown';
  }
}

/**
 * Uazapi's instance states (`connected`, `connecting`, `disconnected`; providers.md §3.1) in
 * zapflow's words. Uazapi reconnects a dropped session by itself, except after a logout or a
 * ban (whatsmeow's `LoggedOut`, reason `401: logged out from another device`): that is `closed`.
 */
export function stateFromUazapi(state: string, statusReason?: number): ChannelState {
  switch (state) {
    case 'connected':
      return 'connected';
    case 'connecting':
      return 'connecting';
    case 'disconnected':
      return statusReason !== undefined && FINAL_EVOLUTION_REASONS.has(statusReason) ? 'closed' : 'disconnected';
    default:
      return (CHANNEL_STATES as readonly string[]).includes(state) ? (state as ChannelState) : 'unknown';
  }
}

/** A provider's connection word in zapflow's words, by provider (Meta, LancePilot and the sandbox say zapflow's own or nothing). */
export function stateFromProvider(provider: string, state: string, statusReason?: number): ChannelState {
  return provider === 'uazapi' ? stateFromUazapi(state, statusReason) : stateFromEvolution(state, statusReason);
}

/**
 * Whether sends may go out on a channel in this state. `unknown`: never reported (operator-added
 * channels of providers that expose no state) — sending is how we find out.
 */
export function isUsableState(state: string): boolean {
  return state === 'connected' || state === 'unknown' || state === 'open';
}
