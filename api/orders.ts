import { createHash } from 'node:crypto';
import type { Db } from '../db';
import type {
  CheckoutView,
  MessageChannel,
  OrderHistoryEntry,
  OrderStatus,
  OutboxStatus,
  PaymentStatus,
} from '../domain';
import { renderTicketQr } from '../tickets/signing';

/** A ticket as `GET /v1/checkouts/:orderId` shows it, with its QR and NFT state. */
export interface TicketDetails {
  ticketId: string;
  ticketTypeId: string;
  code: string;
  status: string;
  /** The signed QR token as an SVG QR code in a data URL (`data:image/svg+xml;base64,...`), ready for `<img src>`. */
  qr: string | null;
  /** The signed token the QR code encodes (`bt1....`), for apps that draw their own QR or verify it offline. */
  qrToken: string | null;
  /** NFT state when the buyer gave a wallet; `mintedAt` is when the mint was recorded. */
  nft: { status: string; tokenId: string | null; txHash: string | null; mintedAt: string | null } | null;
}

/** A refund of the order, as the order shows it. */
export interface OrderRefundSummary {
  refundId: string;
  status: string;
  amountMinor: number;
  ticketIds: string[];
}

/** The order view with full ticket details, and its refunds once it has any. */
export type OrderDetails = Omit<CheckoutView, 'tickets'> & {
  tickets: TicketDetails[];
  refunds?: OrderRefundSummary[];
};

/**
 * The order id is derived from the buyer and their Idempotency-Key, so the same key always names the same
 * order (and so the same workflow id) without any lookup.
 */
export function deriveOrderId(buyerId: string, idempotencyKey: string): string {
  const digest = createHash('sha256').update(`${buyerId}\u0000${idempotencyKey}`).digest('base64url');
  return `ord_${digest.slice(0, 24)}`;
}

/** A stable fingerprint of a request body, to refuse a reused key with a different body. */
export function requestFingerprint(body: unknown): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : value && typeof value === 'object'
        ? Object.fromEntries(
            Object.keys(value as object)
              .sort()
              .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
          )
        : value;
  return createHash('sha256')
    .update(JSON.stringify(canonical(body)))
    .digest('hex');
}

const PAYMENT_STATUS: Record<string, PaymentStatus> = {
  succeeded: 'succeeded',
  requires_action: 'requires_action',
  processing: 'processing',
  failed: 'failed',
  canceled: 'canceled',
  refunded: 'refunded',
  refund_owed: 'refund_owed',
  new: 'pending',
  pending: 'processing',
  completed: 'succeeded',
  expired: 'failed',
};

/** Reads an order from Postgres as the API shows it, or null when there is no such order. */
export async function loadOrderDetails(
  db: Db,
  orderId: string,
): Promise<(OrderDetails & { buyerId: string }) | null> {
  const order = await db('orders').where({ id: orderId }).first();
  if (!order) return null;
  const [payment, tickets, history, refunds] = await Promise.all([
    db('payments').where({ order_id: orderId }).orderBy('created_at', 'desc').first(),
    db('tickets').where({ order_id: orderId }).orderBy('id'),
    db('order_status_history').where({ order_id: orderId }).orderBy('id'),
    db('refunds')
      .where({ order_id: orderId })
      .orderBy('created_at')
      .select('id', 'status', 'amount_minor', 'ticket_ids'),
  ]);
  return {
    buyerId: order.buyer_id,
    orderId,
    status: order.status as OrderStatus,
    ...(order.status_reason ? { reason: order.status_reason } : {}),
    expiresAt: order.expires_at ? new Date(order.expires_at).toISOString() : null,
    amount: { totalMinor: order.total_minor, currency: order.currency.trim() },
    payment: {
      method: order.payment_method,
      status: payment ? (PAYMENT_STATUS[payment.status] ?? 'pending') : 'pending',
      ...(payment?.client_secret ? { clientSecret: payment.client_secret } : {}),
      ...(payment?.hosted_url ? { hostedUrl: payment.hosted_url } : {}),
    },
    tickets: await Promise.all(tickets.map(toTicketDetails)),
    refunds: refunds.map((r) => ({
      refundId: r.id as string,
      status: r.status as string,
      amountMinor: Number(r.amount_minor),
      ticketIds: (r.ticket_ids as string[] | null) ?? [],
    })),
    history: history.map(
      (h): OrderHistoryEntry => ({
        at: new Date(h.at).toISOString(),
        status: h.status,
        ...(h.reason ? { reason: h.reason } : {}),
      }),
    ),
  };
}

/** One message sent about an order, as support sees it: how it ended on its channel, never its recipient. */
export interface OrderMessage {
  kind: string;
  channel: MessageChannel;
  status: OutboxStatus;
  attempts: number;
  sentAt: string | null;
  lastError: string | null;
}

/**
 * The order's outbox rows (its confirmation, refund notices), for support: whether the buyer was told, whichever
 * sent it (the checkout itself, or the message workflow after it), without opening the Temporal UI.
 */
export async function loadOrderMessages(db: Db, orderId: string): Promise<OrderMessage[]> {
  const rows = await db('notifications')
    .where({ order_id: orderId })
    .orderBy(['created_at', 'id'])
    .select('kind', 'channel', 'status', 'attempts', 'sent_at', 'last_error');
  return rows.map((r) => ({
    kind: r.kind as string,
    channel: r.channel as MessageChannel,
    status: r.status as OutboxStatus,
    attempts: Number(r.attempts),
    sentAt: r.sent_at ? new Date(r.sent_at).toISOString() : null,
    lastError: (r.last_error as string | null) ?? null,
  }));
}

/** Ticket rows of an order, for merging into a live view from the workflow. */
export async function loadTicketDetails(db: Db, orderId: string): Promise<TicketDetails[]> {
  return Promise.all((await db('tickets').where({ order_id: orderId }).orderBy('id')).map(toTicketDetails));
}

// Rendering a QR code takes a few milliseconds and a ticket's token never changes, so recent ones are kept.
const QR_CACHE_SIZE = 1_000;
const qrCache = new Map<string, string>();

/** A ticket token as an SVG QR code in a data URL. */
export async function ticketQrDataUrl(token: string): Promise<string> {
  const cached = qrCache.get(token);
  if (cached !== undefined) {
    qrCache.delete(token);
    qrCache.set(token, cached);
    return cached;
  }
  const url = `data:image/svg+xml;base64,${Buffer.from(await renderTicketQr(token)).toString('base64')}`;
  qrCache.set(token, url);
  if (qrCache.size > QR_CACHE_SIZE) qrCache.delete(qrCache.keys().next().value!);
  return url;
}

async function toTicketDetails(row: Record<string, unknown>): Promise<TicketDetails> {
  const token = (row.qr_payload as string | null) ?? null;
  return {
    ticketId: row.id as string,
    ticketTypeId: row.ticket_type_id as string,
    code: row.code as string,
    status: row.status as string,
    qr: token ? await ticketQrDataUrl(token) : null,
    qrToken: token,
    nft: row.nft_status
      ? {
          status: row.nft_status as string,
          tokenId: (row.nft_token_id as string | null) ?? null,
          txHash: (row.nft_tx_hash as string | null) ?? null,
          mintedAt: row.nft_minted_at ? new Date(row.nft_minted_at as string).toISOString() : null,
        }
      : null,
  };
}
