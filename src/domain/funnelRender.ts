/**
 * A funnel step's message with its placeholders filled in. Pure: the run workflow renders
 * its sends with it, and the dispatcher's eager first send renders the same step with the
 * same values, so both produce the message the run's idempotency key stands for.
 */
import type { FunnelMessage } from './funnelTypes';
import { renderTemplate } from './template';

export function renderMessage(message: FunnelMessage, values: Record<string, string | undefined>): FunnelMessage {
  const r = (text: string | undefined) => (text === undefined ? undefined : renderTemplate(text, values));
  switch (message.type) {
    case 'text':
      return { ...message, text: r(message.text)! };
    case 'media':
      return { ...message, caption: r(message.caption) };
    case 'buttons':
      return { ...message, text: r(message.text)!, title: r(message.title), footer: r(message.footer) };
    case 'list':
      return { ...message, text: r(message.text)!, title: r(message.title), footer: r(message.footer) };
    case 'template':
      return { ...message, variables: message.variables?.map((v) => renderTemplate(v, values)) };
  }
}

/** The values a run renders with: the contact's name, phone and variables, then the run's own. */
export function renderValues(
  contact: { name?: string; phone: string; variables: Record<string, string> },
  runVariables: Record<string, string>,
): Record<string, string | undefined> {
  return { name: contact.name ?? '', phone: contact.phone, ...contact.variables, ...runVariables };
}
