// Notifications: generic over what they are about (an order confirmation now; refunds, payouts and rewards
// later), so every message goes through the same outbox, ports and workflow. Pure: workflows import this.

/** Task queue of the message workflow and its activities. */
export const NOTIFICATIONS_TASK_QUEUE = 'notifications';

/** The channels a message goes out on; each has its own port (Mailer, Sms) and its own outbox row. */
export const MESSAGE_CHANNELS = ['EMAIL', 'SMS'] as const;
export type MessageChannel = (typeof MESSAGE_CHANNELS)[number];

/** What a message is about. Later flows add theirs here, with an SMS text below. */
export const MessageKind = {
  OrderConfirmed: 'order-confirmed',
  /** An organizer's payout left for its bank account; recipients and data are read from the payout. */
  PayoutPaid: 'payout-paid',
} as const;
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind] | (string & {});

/** Outbox status: PENDING (not yet sent), SENDING (handed to the provider, answer not yet back), SENT,
 * FAILED (the provider refused it, or retries ran out), UNCONFIRMED (the provider may have it, but no answer
 * came back; not sent again, so the recipient never gets it twice). */
export const OUTBOX_STATUSES = ['PENDING', 'SENDING', 'SENT', 'FAILED', 'UNCONFIRMED'] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

/**
 * A message to send: a kind, the business key it is about, a template and its data. Recipients and data may
 * be left out for kinds whose activity can look them up (an order confirmation reads the order), which keeps
 * email addresses and phone numbers out of workflow histories.
 */
export interface SendMessageInput {
  kind: MessageKind;
  /** The business key the message is about (order id, refund id, payout id): with the kind, it names the message. */
  key: string;
  /** The order the message belongs to, for the outbox and the Temporal UI. */
  orderId?: string;
  /** Template name; defaults to the kind. The email port maps it to the provider's template. */
  template?: string;
  data?: Record<string, unknown>;
  to?: { email?: string; phone?: string };
}

/** One outbox row the workflow is to deliver. */
export interface PreparedMessage {
  messageId: string;
  channel: MessageChannel;
}

/** How each channel of a message ended; a channel without a recipient is absent. */
export type SendMessageResult = Partial<Record<MessageChannel, OutboxStatus>>;

/** One message workflow per kind and key: `notify-order-confirmed-<orderId>`. */
export function messageWorkflowId(kind: MessageKind, key: string): string {
  return `notify-${kind}-${key}`;
}

/** The outbox row id of one message on one channel; deterministic, so a retry finds the row it made. */
export function outboxMessageId(kind: MessageKind, key: string, channel: MessageChannel): string {
  return `${kind}:${key}:${channel.toLowerCase()}`;
}

/** Data of an order confirmation, as the email template receives it. No secrets: codes are the buyer's own. */
export interface OrderConfirmationData {
  orderId: string;
  eventName: string;
  eventStartsAt: string;
  venue: string;
  total: string;
  orderUrl: string;
  tickets: Array<{ ticketId: string; ticketType: string; code: string }>;
}

// SMS segments are short; past this many tickets the text points to the email instead of listing codes.
const SMS_MAX_CODES = 3;

/** The SMS text for a template, or null when the template has no SMS form. */
export function renderSmsText(template: string, data: Record<string, unknown>): string | null {
  if (template === MessageKind.OrderConfirmed) {
    const d = data as unknown as OrderConfirmationData;
    const count = d.tickets.length;
    const codes =
      count <= SMS_MAX_CODES
        ? `: ${d.tickets.map((t) => t.code).join(', ')}`
        : '; the codes are in your confirmation email';
    return `Bilten: order ${d.orderId} for ${d.eventName} is paid. ${count} ticket${count === 1 ? '' : 's'}${codes}. Show the code or QR at the door.`;
  }
  if (typeof data.text === 'string') return data.text;
  return null;
}
