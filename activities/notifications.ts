import { ApplicationFailure } from '@temporalio/activity';
import type { Db } from '../db';
import {
  FailureType,
  MessageKind,
  minorToDecimalString,
  outboxMessageId,
  renderSmsText,
  type MessageChannel,
  type OrderConfirmationData,
  type OutboxStatus,
  type PreparedMessage,
  type SendMessageInput,
  type SendMessageResult,
} from '../domain';
import type { Mailer, Sms } from '../providers/notifications/ports';
import { MailDeliveryError } from '../providers/notifications/sendgrid-mailer';
import { SmsDeliveryError } from '../providers/notifications/twilio-sms';

/** What the notification activities need: the outbox table and the two message ports. */
export interface NotificationActivityDeps {
  db: Db;
  mailer: Mailer;
  sms: Sms;
  /** Email template names (message kinds) to the provider's template ids, e.g. SendGrid `d-...` ids. */
  emailTemplates: Record<string, string>;
  /** Public URL of the API, for links in messages. */
  publicBaseUrl: string;
}

/** Result of prepareMessages: the outbox rows to deliver, one per channel with a recipient. */
export interface PrepareMessagesResult {
  messages: PreparedMessage[];
}

/** Result of deliverMessage: where the outbox row stands after this attempt. */
export interface DeliverMessageResult {
  messageId: string;
  status: OutboxStatus;
}

// Errors that mean the connection never opened, so the provider cannot have the message.
const NEVER_CONNECTED = /\((ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)\)/;

/** What a failed send tells us: whether the provider may have the message, and whether a retry can help. */
function classifySendFailure(err: unknown): {
  delivered: 'no' | 'unknown';
  permanent: boolean;
  retryAfterMs: number | null;
} {
  if (err instanceof MailDeliveryError || err instanceof SmsDeliveryError) {
    const retryAfterMs = err instanceof MailDeliveryError ? err.retryAfterMs : null;
    // The provider answered with an error, or the request could not even be built: it does not have it.
    if (err.status !== null || err.permanent) return { delivered: 'no', permanent: err.permanent, retryAfterMs };
    if (NEVER_CONNECTED.test(err.message)) return { delivered: 'no', permanent: false, retryAfterMs };
    // A timeout or a reset mid-request: the provider may have accepted it.
    return { delivered: 'unknown', permanent: false, retryAfterMs };
  }
  // Anything else comes from our side of the port (the sandbox writes its outbox row in one statement).
  return { delivered: 'no', permanent: false, retryAfterMs: null };
}

/**
 * Activities that send messages through the outbox. Neither SendGrid nor Twilio takes an idempotency key, so
 * every message is a row with a deterministic id, and a send is look-before-act on that row: claim it
 * (PENDING -> SENDING), call the provider, record SENT. A row already SENT is never sent again; a row found
 * still SENDING means an earlier attempt handed it over and never came back, so it is marked UNCONFIRMED and
 * not sent again either. Delivery is therefore at most once: a buyer may (rarely) miss a message that support
 * can resend, but never gets one twice.
 */
export function createNotificationActivities(deps: NotificationActivityDeps) {
  const { db, mailer, sms } = deps;

  /** The order confirmation's recipients and template data, read from the order. */
  async function orderConfirmation(
    orderId: string,
  ): Promise<{ to: { email?: string; phone?: string }; data: OrderConfirmationData }> {
    const order = await db('orders as o')
      .join('events as e', 'e.id', 'o.event_id')
      .where('o.id', orderId)
      .first(
        'o.contact_email',
        'o.contact_phone',
        'o.total_minor',
        'o.currency',
        'e.name as event_name',
        'e.starts_at',
        'e.venue',
      );
    if (!order) throw ApplicationFailure.nonRetryable(`no order ${orderId}`, FailureType.MessageRejected);
    const tickets = await db('tickets as t')
      .join('ticket_types as tt', 'tt.id', 't.ticket_type_id')
      .where('t.order_id', orderId)
      .orderBy('t.id')
      .select('t.id', 't.code', 'tt.name');
    const currency = (order.currency as string).trim();
    return {
      to: {
        ...(order.contact_email ? { email: order.contact_email as string } : {}),
        ...(order.contact_phone ? { phone: order.contact_phone as string } : {}),
      },
      data: {
        orderId,
        eventName: order.event_name,
        eventStartsAt: new Date(order.starts_at).toISOString(),
        venue: order.venue,
        total: `${minorToDecimalString(Number(order.total_minor), currency)} ${currency}`,
        orderUrl: `${deps.publicBaseUrl}/v1/checkouts/${orderId}`,
        tickets: tickets.map((t) => ({ ticketId: t.id, ticketType: t.name, code: t.code })),
      },
    };
  }

  /** A payout notice's recipient and data, read from the payout and its organizer (never from the history). */
  async function payoutNotice(
    payoutId: string,
  ): Promise<{ to: { email?: string }; data: Record<string, unknown> }> {
    const payout = await db('payouts as p')
      .join('organizers as o', 'o.id', 'p.organizer_id')
      .where('p.id', payoutId)
      .first('p.id', 'p.organizer_id', 'p.amount_minor', 'p.currency', 'p.provider_ref', 'o.name', 'o.email');
    if (!payout) throw ApplicationFailure.nonRetryable(`no payout ${payoutId}`, FailureType.MessageRejected);
    const currency = (payout.currency as string).trim();
    return {
      to: payout.email ? { email: payout.email as string } : {},
      data: {
        payoutId,
        organizerId: payout.organizer_id,
        organizerName: payout.name,
        amount: `${minorToDecimalString(Number(payout.amount_minor), currency)} ${currency}`,
        transferId: payout.provider_ref,
        payoutUrl: `${deps.publicBaseUrl}/v1/organizers/${payout.organizer_id as string}/payouts/${payoutId}`,
      },
    };
  }

  /**
   * Writes one outbox row per channel that has a recipient, each with its deterministic id, and returns their
   * ids. A retry (or a second workflow for the same message) finds the rows already there and changes nothing.
   */
  async function prepareMessages(input: SendMessageInput): Promise<PrepareMessagesResult> {
    const template = input.template ?? input.kind;
    let to = input.to ?? {};
    let data: Record<string, unknown> = input.data ?? {};
    if (input.kind === MessageKind.OrderConfirmed && input.orderId) {
      const confirmation = await orderConfirmation(input.orderId);
      to = input.to ?? confirmation.to;
      data = { ...confirmation.data, ...input.data };
    } else if (input.orderId && !input.to) {
      // Any other message about an order (a refund) goes to the order's contact, read here, never from a history.
      const order = await db('orders').where({ id: input.orderId }).first('contact_email', 'contact_phone');
      to = {
        ...(order?.contact_email ? { email: order.contact_email as string } : {}),
        ...(order?.contact_phone ? { phone: order.contact_phone as string } : {}),
      };
    }
    if (input.kind === MessageKind.PayoutPaid) {
      const notice = await payoutNotice(input.key);
      to = input.to ?? notice.to;
      data = { ...notice.data, ...input.data };
    }
    const rows: Array<Record<string, unknown>> = [];
    const row = (channel: MessageChannel, recipient: string, payload: Record<string, unknown>) => ({
      id: outboxMessageId(input.kind, input.key, channel),
      kind: input.kind,
      order_id: input.orderId ?? null,
      channel,
      recipient,
      template,
      payload: JSON.stringify(payload),
    });
    if (to.email) rows.push(row('EMAIL', to.email, data));
    if (to.phone) {
      const text = renderSmsText(template, data);
      if (text === null) {
        throw ApplicationFailure.nonRetryable(`template ${template} has no SMS text`, FailureType.MessageRejected);
      }
      rows.push(row('SMS', to.phone, { text }));
    }
    if (rows.length > 0) await db('notifications').insert(rows).onConflict('id').ignore();
    return { messages: rows.map((r) => ({ messageId: r.id as string, channel: r.channel as MessageChannel })) };
  }

  /** Sends one outbox row through its port, at most once. See the factory's comment for the protocol. */
  async function deliverMessage({ messageId }: { messageId: string }): Promise<DeliverMessageResult> {
    const current = await db('notifications').where({ id: messageId }).first();
    if (!current) throw ApplicationFailure.nonRetryable(`no outbox row ${messageId}`, FailureType.MessageRejected);
    if (current.status !== 'PENDING') return settledOrUnconfirmed(messageId, current.status as OutboxStatus);

    // Build the provider request before claiming, so a message that can never be sent is not left SENDING.
    const payload = current.payload as Record<string, unknown>;
    let send: () => Promise<{ providerMessageId: string | null }>;
    if (current.channel === 'EMAIL') {
      const templateId = deps.emailTemplates[current.template as string];
      if (!templateId) return reject(messageId, `no email template for ${current.template as string}`);
      send = () => mailer.send({ messageId, to: current.recipient, templateId, data: payload });
    } else {
      if (typeof payload.text !== 'string') return reject(messageId, 'the SMS has no text');
      const body = payload.text;
      send = () => sms.send({ messageId, to: current.recipient, body });
    }

    const claimed = await db('notifications')
      .where({ id: messageId, status: 'PENDING' })
      .update({ status: 'SENDING', attempts: db.raw('attempts + 1'), updated_at: db.fn.now() })
      .returning('attempts');
    if (claimed.length === 0) {
      const now = await db('notifications').where({ id: messageId }).first('status');
      return settledOrUnconfirmed(messageId, now.status as OutboxStatus);
    }
    const claim = { id: messageId, status: 'SENDING', attempts: claimed[0]!.attempts as number };

    try {
      const { providerMessageId } = await send();
      await db('notifications')
        .where({ id: messageId })
        .whereIn('status', ['SENDING', 'UNCONFIRMED'])
        .update({
          status: 'SENT',
          provider_message_id: providerMessageId ?? current.provider_message_id ?? null,
          sent_at: db.fn.now(),
          last_error: null,
          updated_at: db.fn.now(),
        });
      return { messageId, status: 'SENT' };
    } catch (err) {
      const failure = classifySendFailure(err);
      const message = err instanceof Error ? err.message : String(err);
      if (failure.delivered === 'unknown') {
        await db('notifications')
          .where(claim)
          .update({ status: 'UNCONFIRMED', last_error: `outcome unknown: ${message}`, updated_at: db.fn.now() });
        return { messageId, status: 'UNCONFIRMED' };
      }
      if (failure.permanent) return reject(messageId, message, claim);
      // Not delivered and worth another try: put the row back for the next attempt to claim.
      const released = await db('notifications')
        .where(claim)
        .update({ status: 'PENDING', last_error: message, updated_at: db.fn.now() });
      if (released === 0) {
        // A later attempt already gave up on this one as UNCONFIRMED; now it is known not to have gone out.
        await db('notifications')
          .where({ id: messageId, status: 'UNCONFIRMED' })
          .update({ status: 'FAILED', last_error: message, updated_at: db.fn.now() });
        return { messageId, status: 'FAILED' };
      }
      throw ApplicationFailure.create({
        message,
        type: 'MessageNotDelivered',
        ...(failure.retryAfterMs !== null ? { nextRetryDelay: failure.retryAfterMs } : {}),
      });
    }
  }

  /** A row another attempt already dealt with: SENT and FAILED stand; SENDING means that attempt never came back. */
  async function settledOrUnconfirmed(messageId: string, status: OutboxStatus): Promise<DeliverMessageResult> {
    if (status !== 'SENDING') return { messageId, status };
    await db('notifications').where({ id: messageId, status: 'SENDING' }).update({
      status: 'UNCONFIRMED',
      last_error: 'an earlier attempt handed the message to the provider and never returned; not sent again',
      updated_at: db.fn.now(),
    });
    return { messageId, status: 'UNCONFIRMED' };
  }

  /** Records a message the provider will never take, and tells the workflow not to retry it. */
  async function reject(
    messageId: string,
    reason: string,
    where: Record<string, unknown> = { id: messageId, status: 'PENDING' },
  ): Promise<never> {
    await db('notifications')
      .where(where)
      .update({ status: 'FAILED', last_error: reason, updated_at: db.fn.now() });
    throw ApplicationFailure.nonRetryable(reason, FailureType.MessageRejected);
  }

  /** Gives up on a message whose retries ran out; a row that is SENDING may have gone out, so it is UNCONFIRMED. */
  async function markMessageFailed(input: { messageId: string; reason: string }): Promise<DeliverMessageResult> {
    await db('notifications')
      .where({ id: input.messageId, status: 'PENDING' })
      .update({ status: 'FAILED', last_error: input.reason, updated_at: db.fn.now() });
    await db('notifications')
      .where({ id: input.messageId, status: 'SENDING' })
      .update({ status: 'UNCONFIRMED', last_error: input.reason, updated_at: db.fn.now() });
    const row = await db('notifications').where({ id: input.messageId }).first('status');
    return { messageId: input.messageId, status: (row?.status as OutboxStatus | undefined) ?? 'FAILED' };
  }

  /**
   * Prepares a message and delivers each of its channels in one go, for a workflow that sends it as one local
   * activity: the same outbox rows and the same claim-send-record steps as prepareMessages and deliverMessage, so a
   * retry of this, or the message workflow started after it, never sends a row twice. A channel refused for good
   * is FAILED in the result; a channel worth another try fails the attempt once every channel has been tried.
   */
  async function sendMessage(input: SendMessageInput): Promise<SendMessageResult> {
    const { messages } = await prepareMessages(input);
    const result: SendMessageResult = {};
    const transient: unknown[] = [];
    await Promise.all(
      messages.map(async ({ messageId, channel }) => {
        try {
          result[channel] = (await deliverMessage({ messageId })).status;
        } catch (err) {
          if (err instanceof ApplicationFailure && err.nonRetryable) result[channel] = 'FAILED';
          else transient.push(err);
        }
      }),
    );
    if (transient.length > 0) throw transient[0];
    return result;
  }

  return { prepareMessages, deliverMessage, markMessageFailed, sendMessage };
}
