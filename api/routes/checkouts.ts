import {
  isGrpcServiceError,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { Router, type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import { rewardRules, type Config } from '../../config';
import type { Db } from '../../db';
import { preparedRows } from '../../db';
import { buyerHoldings, ticketCapsOf } from '../../db/holdings';
import { rewardBalances } from '../../db/rewards';
import {
  awaitPlacementUpdate,
  cancelCheckoutUpdate,
  CHECKOUT_TASK_QUEUE,
  checkoutStatusQuery,
  checkoutWorkflowId,
  isCheckoutFinal,
  MESSAGE_CHANNELS,
  OUTBOX_STATUSES,
  OrderReason,
  PricingError,
  quoteOrder,
  orderSearchAttributes,
  FailureType,
  buyerFacingReason,
  buyerTicketLimitBreach,
  holdTtlSeconds,
  redemptionDiscount,
  type BuyerTicketLimitBreach,
  type OrderHistoryEntry,
  type CheckoutInput,
  type CheckoutView,
} from '../../domain';
import type { checkoutWorkflowV3 } from '../../workflows/checkout';
import { isDoorToken, principalOf, requireRole, type Principal } from '../auth';
import {
  deriveOrderId,
  loadOrderDetails,
  loadOrderMessages,
  loadTicketDetails,
  requestFingerprint,
  type OrderDetails,
} from '../orders';
import { Problem, problems } from '../problems';
import { ID_PATTERN, parseOr422 } from '../validation';
import { bindOrder } from '../../observability/http-logging';
import { documentRoute, moneySchema, orderStatusSchema } from '../openapi';
import { businessMetrics } from '../../observability/metrics';
import type { CatalogueSnapshot } from '../catalogue-snapshot';

const id = z.string().regex(ID_PATTERN, 'must be an id');
/**
 * The event and its ticket types in one statement, prepared once per connection: what pricing a checkout reads, the
 * per-buyer caps included. An event without ticket types is one row with a null `id`.
 */
const PRICING_SQL = `
  SELECT e.organizer_id, e.status AS event_status, t.id, t.name, t.price_minor, t.currency, t.max_per_order,
         t.max_per_buyer, t.capacity, t.sold, t.held
    FROM events e LEFT JOIN ticket_types t ON t.event_id = e.id
   WHERE e.id = $1`;
/** A row of PRICING_SQL. */
interface PricingRow {
  organizer_id: string;
  event_status: string;
  id: string | null;
  name: string;
  price_minor: number;
  currency: string;
  max_per_order: number;
  max_per_buyer: number | null;
  capacity: number;
  sold: number;
  held: number;
}

/** How often a placement refused by a workflow task that had to run again is asked for (see startAndAwaitPlacement). */
const PLACEMENT_ATTEMPTS = 3;
/** The gRPC status the server answers such a refusal with (grpc-js is not a dependency of ours to import it from). */
const GRPC_FAILED_PRECONDITION = 9;

/** The body of `POST /v1/checkouts`, as in the API contract. The client never sends a price. */
export const checkoutRequestSchema = z
  .object({
    eventId: id,
    items: z
      .array(z.object({ ticketTypeId: id, quantity: z.number().int().min(1).max(50) }).strict())
      .min(1)
      .max(20),
    payment: z.discriminatedUnion('method', [
      z
        .object({
          method: z.literal('card'),
          paymentMethodId: z.string().regex(/^pm_[A-Za-z0-9_]{1,100}$/, 'must be a PaymentMethod id (pm_...)'),
        })
        .strict(),
      z.object({ method: z.literal('crypto') }).strict(),
    ]),
    buyer: z
      .object({
        email: z.string().max(254).email().optional(),
        phone: z
          .string()
          .regex(/^\+[1-9][0-9]{6,14}$/, 'must be an E.164 phone number')
          .optional(),
      })
      .strict()
      .optional(),
    walletAddress: z
      .string()
      .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte address')
      .optional(),
    redeemPoints: z.number().int().min(0).max(10_000_000).optional(),
    referralCode: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .optional(),
  })
  .strict();
export type CheckoutRequest = z.infer<typeof checkoutRequestSchema>;

const ticketSchema = z.object({
  ticketId: z.string(),
  code: z.string(),
  qr: z.string().describe('SVG QR code as a data URL'),
  qrToken: z.string().optional(),
  status: z.string(),
  nft: z
    .object({ status: z.string(), tokenId: z.string().nullable(), txHash: z.string().nullable() })
    .passthrough()
    .nullable()
    .optional(),
});

/** An order as the checkout endpoints answer it (the contract's checkout object). */
export const checkoutViewSchema = z
  .object({
    orderId: z.string(),
    status: orderStatusSchema,
    reason: z.string().optional(),
    expiresAt: z.string().nullable(),
    amount: moneySchema,
    payment: z
      .object({
        method: z.enum(['card', 'crypto']),
        status: z.string(),
        clientSecret: z.string().optional(),
        hostedUrl: z.string().optional(),
      })
      .passthrough(),
    tickets: z.array(ticketSchema),
    history: z.array(z.object({ at: z.string(), status: z.string() }).passthrough()),
    messages: z
      .array(
        z.object({
          kind: z.string(),
          channel: z.enum(MESSAGE_CHANNELS),
          status: z.enum(OUTBOX_STATUSES),
          attempts: z.number().int(),
          sentAt: z.string().nullable(),
          lastError: z.string().nullable(),
        }),
      )
      .optional()
      .describe('Support and admin only (GET): the outbox rows of the order, how each message ended'),
  })
  .passthrough()
  .openapi('Checkout');

const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII');

/** The dependencies of the checkout routes. */
export interface CheckoutRouteDeps {
  config: Config;
  db: Db;
  temporal: Client;
  /** Told when a ticket type turns out sold out, so the event page stops showing its seats at once. */
  eventPages?: Pick<CatalogueSnapshot, 'soldOut'>;
}

/** `POST /v1/checkouts`, `GET /v1/checkouts/:orderId`, `POST /v1/checkouts/:orderId/cancel`. */
export function checkoutRoutes({ config, db, temporal, eventPages }: CheckoutRouteDeps): Router {
  const router = Router();

  /**
   * Concurrent requests for one order share one update-with-start. Temporal admits only a few in-flight updates
   * per workflow (10 by default); a burst of retries with one Idempotency-Key was refused past that and retried
   * by the client, only to hear the same answer (test/idempotency.api.test.ts).
   */
  const placing = new Map<string, Promise<CheckoutView>>();
  const placeOnce = (orderId: string, place: () => Promise<CheckoutView>): Promise<CheckoutView> => {
    let placement = placing.get(orderId);
    if (!placement) {
      placement = place().finally(() => placing.delete(orderId));
      placing.set(orderId, placement);
    }
    return placement;
  };

  documentRoute('post', '/v1/checkouts', {
    summary: 'Start a checkout: hold seats and initiate payment in one round trip',
    description:
      'The same Idempotency-Key from the same buyer answers with the same order (Idempotent-Replayed: true).',
    roles: ['buyer'],
    idempotencyKey: true,
    body: checkoutRequestSchema.openapi('CheckoutRequest'),
    responses: { 201: checkoutViewSchema },
    problems: [400, 409, 413, 415, 422, 429],
  });
  router.post('/v1/checkouts', countCheckoutOutcome, requireRole('buyer'), async (req, res) => {
    const buyer = principalOf(req);
    const key = req.header('Idempotency-Key');
    if (key === undefined)
      throw problems.badRequest('idempotency-key-required', 'the Idempotency-Key header is required');
    if (!idempotencyKeySchema.safeParse(key).success) {
      throw problems.badRequest(
        'idempotency-key-invalid',
        'Idempotency-Key must be 1-255 printable ASCII characters',
      );
    }
    const body = parseOr422(checkoutRequestSchema, req.body);
    const orderId = deriveOrderId(buyer.sub, key);
    bindOrder(res, orderId);
    const requestHash = requestFingerprint(body);

    // The same key again: answer with the order it already made, never a second one.
    const existing = await db('orders').where({ id: orderId }).first('request_hash');
    if (existing) {
      if (existing.request_hash !== requestHash) throw reusedKey();
      const view = await currentView(orderId);
      return respondWithPlacement(res, asSeenBy(buyer, view!), true);
    }

    const input = await priceCheckout(body, buyer, key, orderId, requestHash);
    // What the workflow must not carry in its history is recorded here, for its activities to read. The first request
    // to record the key fixes its body: a concurrent one with another body is refused here, before it can start or
    // join the checkout, so the placement needs no second look at the order's hash.
    const [request] = await db('checkout_requests')
      .insert({
        order_id: orderId,
        buyer_id: buyer.sub,
        contact_email: body.buyer?.email ?? null,
        contact_phone: body.buyer?.phone ?? null,
        payment_method_id: body.payment.method === 'card' ? body.payment.paymentMethodId : null,
        request_hash: requestHash,
      })
      .onConflict('order_id')
      .merge({ request_hash: db.raw('COALESCE(checkout_requests.request_hash, EXCLUDED.request_hash)') })
      .returning('request_hash');
    if (request?.request_hash !== requestHash) throw reusedKey();
    let view: CheckoutView;
    try {
      view = await placeOnce(orderId, () => startAndAwaitPlacement(input));
    } catch (err) {
      // The checkout with this key already ran to its end: answer from what it recorded.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const recorded = await loadOrderDetails(db, orderId);
      if (!recorded) throw err;
      if (recorded.buyerId !== buyer.sub) throw problems.notFound(`order ${orderId}`);
      view = recorded;
    }
    // The hold itself refused: seats the early check saw went to a concurrent checkout, so the event page may
    // still show them. Which of the order's types ran out the view does not say; dropping a page costs one read.
    if (view.status === 'FAILED' && view.reason === OrderReason.SoldOut)
      for (const line of input.lines) eventPages?.soldOut(input.eventId, line.ticketTypeId);
    respondWithPlacement(res, asSeenBy(buyer, await withSecretsFromPostgres(view)), false);
  });

  documentRoute('get', '/v1/checkouts/:orderId', {
    summary: 'An order with its tickets and history (its buyer, support, admin, door staff)',
    roles: ['buyer', 'support', 'admin', 'staff'],
    responses: { 200: checkoutViewSchema },
  });
  router.get('/v1/checkouts/:orderId', requireRole('buyer', 'support', 'admin', 'staff'), async (req, res) => {
    const orderId = orderIdParam(req);
    const view = await currentView(orderId);
    const caller = principalOf(req);
    if (!view || !canRead(caller, view.buyerId)) throw problems.notFound(`order ${orderId}`);
    const { buyerId: _buyerId, ...body } = view;
    // Support answers "did I get my tickets by email?" from here: the confirmation has no workflow of its own.
    const messages = isStaffDesk(caller) ? { messages: await loadOrderMessages(db, orderId) } : {};
    res.json({ ...asSeenBy(caller, body), ...messages });
  });

  documentRoute('post', '/v1/checkouts/:orderId/cancel', {
    summary: 'Cancel an unpaid order and release its hold (its buyer, support, door staff)',
    roles: ['buyer', 'support', 'staff'],
    responses: { 200: checkoutViewSchema },
    problems: [409],
  });
  router.post('/v1/checkouts/:orderId/cancel', requireRole('buyer', 'support', 'staff'), async (req, res) => {
    const orderId = orderIdParam(req);
    const caller = principalOf(req);
    const order = await db('orders').where({ id: orderId }).first('buyer_id', 'status');
    if (!order || !canRead(caller, order.buyer_id)) throw problems.notFound(`order ${orderId}`);
    if (isCheckoutFinal(order.status)) throw notCancellable(order.status);
    try {
      const view = await temporal.workflow
        .getHandle(checkoutWorkflowId(orderId))
        .executeUpdate(cancelCheckoutUpdate, { args: [{ requestedBy: `${caller.role}:${caller.sub}` }] });
      res.json(
        asSeenBy(caller, {
          ...(await withSecretsFromPostgres(view)),
          tickets: await loadTicketDetails(db, orderId),
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError) {
        const now = await loadOrderDetails(db, orderId);
        throw notCancellable(now?.status ?? order.status);
      }
      throw err;
    }
  });

  /**
   * Starts the order's checkout and waits for its placement, in one round trip. The first workflow task can decide a
   * whole instant card order (seats, charge and tickets are local activities) and close the workflow; a provider
   * webhook signalled meanwhile makes the server refuse that close (UnhandledCommand) and run the task again, and the
   * update the refused task carried is aborted with FAILED_PRECONDITION. Asking again joins the task that runs again,
   * or, once the checkout has closed, is refused as a duplicate start and answered from Postgres by the caller.
   */
  async function startAndAwaitPlacement(input: CheckoutInput): Promise<CheckoutView> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await temporal.workflow.executeUpdateWithStart(awaitPlacementUpdate, {
          // An operation is single-use: each attempt gets its own.
          startWorkflowOperation: new WithStartWorkflowOperation<typeof checkoutWorkflowV3>('checkoutWorkflowV3', {
            workflowId: checkoutWorkflowId(input.orderId),
            taskQueue: CHECKOUT_TASK_QUEUE,
            args: [input],
            // A concurrent request with the same key joins the running checkout instead of starting another.
            workflowIdConflictPolicy: 'USE_EXISTING',
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
            typedSearchAttributes: orderSearchAttributes({
              orderId: input.orderId,
              eventId: input.eventId,
              buyerId: input.buyerId,
              organizerId: input.organizerId,
              status: 'AWAITING_PAYMENT',
              paymentMethod: input.payment.method,
              amountMinor: input.total.amountMinor,
            }),
          }),
        });
      } catch (err) {
        const taskRefused = isGrpcServiceError(err) && err.code === GRPC_FAILED_PRECONDITION;
        if (!taskRefused || attempt >= PLACEMENT_ATTEMPTS) throw err;
      }
    }
  }

  /** Prices the request against the catalogue; refuses what can be refused before any workflow starts. */
  async function priceCheckout(
    body: CheckoutRequest,
    buyer: Principal,
    idempotencyKey: string,
    orderId: string,
    requestHash: string,
  ): Promise<CheckoutInput> {
    const rows = await preparedRows<PricingRow>(db, 'checkout-pricing', PRICING_SQL, [body.eventId]);
    const event = rows[0];
    if (!event) throw problems.validation([{ field: 'eventId', message: 'no such event' }]);
    if (event.event_status !== 'ON_SALE')
      throw problems.conflict('not-on-sale', `event ${body.eventId} is not on sale`);
    const catalogue = rows.filter((t): t is PricingRow & { id: string } => t.id !== null);
    let quote;
    try {
      quote = quoteOrder(
        body.eventId,
        body.items,
        catalogue.map((t) => ({
          id: t.id,
          eventId: body.eventId,
          name: t.name,
          priceMinor: t.price_minor,
          currency: t.currency.trim(),
          maxPerOrder: t.max_per_order,
        })),
      );
    } catch (err) {
      if (!(err instanceof PricingError)) throw err;
      if (err.type === FailureType.LimitExceeded) throw problems.conflict('limit-exceeded', err.message);
      throw problems.validation([{ field: err.field ?? 'items', message: err.message }]);
    }
    // A cheap early answer in a flash sale; the hold itself is what guarantees no oversell.
    for (const line of quote.lines) {
      const t = catalogue.find((c) => c.id === line.ticketTypeId)!;
      const left = t.capacity - t.sold - t.held;
      if (left < line.quantity) {
        if (left <= 0) eventPages?.soldOut(body.eventId, t.id);
        throw soldOut(line.name);
      }
    }
    const open = await db('orders')
      .where({ buyer_id: buyer.sub })
      .whereIn('status', ['AWAITING_PAYMENT', 'PAYMENT_PROCESSING'])
      .count({ n: '*' })
      .first();
    if (Number(open?.n ?? 0) >= config.MAX_OPEN_HOLDS_PER_BUYER) throw openHoldLimit();
    const breach = buyerTicketLimitBreach(
      quote.lines,
      await buyerHoldings(db, buyer.sub, body.eventId),
      ticketCapsOf(catalogue, config.MAX_TICKETS_PER_BUYER_PER_EVENT),
    );
    if (breach) throw buyerTicketLimit(breach);
    const total = await discounted(quote.total, buyer.sub, body.redeemPoints ?? 0);
    const referrerId = body.referralCode ? await referrerOf(buyer.sub, body.referralCode) : undefined;
    const hasContact = Boolean(body.buyer?.email || body.buyer?.phone);
    return {
      orderId,
      buyerId: buyer.sub,
      eventId: body.eventId,
      organizerId: event.organizer_id,
      idempotencyKey,
      requestHash,
      lines: quote.lines,
      total: total.total,
      ...(total.discount ? { redeemPoints: body.redeemPoints, discount: total.discount } : {}),
      ...(referrerId ? { referrerId } : {}),
      // Ids only: the PaymentMethod id and the contact are in checkout_requests (`{}` says there is none).
      payment: { method: body.payment.method },
      ...(hasContact ? {} : { contact: {} }),
      ...(body.walletAddress ? { walletAddress: body.walletAddress } : {}),
      holdTtlMs:
        holdTtlSeconds(body.payment.method, {
          holdTtlSeconds: config.HOLD_TTL_SECONDS,
          cryptoHoldTtlSeconds: config.CRYPTO_HOLD_TTL_SECONDS,
        }) * 1000,
    };
  }

  /**
   * The order's total after the points redeemed on it (the server prices the discount, as every price). Too few
   * points is 409, a discount that leaves less than the smallest charge 422. The hold checks the points again
   * under the buyer's lock, so two checkouts cannot spend the same points.
   */
  async function discounted(
    total: CheckoutInput['total'],
    buyerId: string,
    points: number,
  ): Promise<{ total: CheckoutInput['total']; discount?: CheckoutInput['total'] }> {
    if (points <= 0) return { total };
    const { available } = await rewardBalances(db, buyerId);
    const priced = redemptionDiscount(points, total, available, rewardRules(config));
    if ('refused' in priced) {
      if (priced.refused.rule === 'insufficient-points')
        throw problems.conflict('insufficient-points', priced.refused.detail, { availablePoints: available });
      throw problems.validation([{ field: 'redeemPoints', message: priced.refused.detail }]);
    }
    return {
      total: { amountMinor: total.amountMinor - priced.discount.amountMinor, currency: total.currency },
      discount: priced.discount,
    };
  }

  /**
   * The referrer a referral code names, for a buyer's first order only. An unknown code, one's own code, or a code
   * on a buyer who already bought is 422 (two first orders at once still pay one bonus: its operation id is unique): a field is never accepted and ignored.
   */
  async function referrerOf(buyerId: string, code: string): Promise<string> {
    const bad = (message: string) => problems.validation([{ field: 'referralCode', message }]);
    const referrer = await db('buyers').where({ referral_code: code }).first('id');
    if (!referrer) throw bad('no buyer has this referral code');
    if (referrer.id === buyerId) throw bad('a buyer cannot refer themselves');
    const bought = await db('orders')
      .where({ buyer_id: buyerId })
      .whereIn('status', ['PAID', 'PARTIALLY_REFUNDED', 'REFUNDED'])
      .first('id');
    if (bought) throw bad("a referral code applies to a new buyer's first order only");
    return referrer.id as string;
  }

  /** The workflow's view holds ids only: the client secret and the tickets' codes come from Postgres. */
  async function withSecretsFromPostgres(view: CheckoutView): Promise<CheckoutView> {
    const payment = await db('payments')
      .where({ order_id: view.orderId })
      .orderBy('created_at', 'desc')
      .first('client_secret');
    const tickets = view.tickets.length > 0 ? await loadTicketDetails(db, view.orderId) : view.tickets;
    return {
      ...view,
      payment: { ...view.payment, ...(payment?.client_secret ? { clientSecret: payment.client_secret } : {}) },
      tickets,
    };
  }

  /** The order as it stands: live from the workflow while it runs, from Postgres once it has closed. */
  async function currentView(orderId: string): Promise<(OrderDetails & { buyerId: string }) | null> {
    const recorded = await loadOrderDetails(db, orderId);
    if (!recorded || isCheckoutFinal(recorded.status)) return recorded;
    try {
      const live = await temporal.workflow.getHandle(checkoutWorkflowId(orderId)).query(checkoutStatusQuery);
      // Tickets are read after the query: issuance may have committed since `recorded` was read, and a PAID
      // answer must never come with the empty ticket list of an earlier moment.
      const withSecrets = await withSecretsFromPostgres(live);
      return { ...withSecrets, buyerId: recorded.buyerId, tickets: await loadTicketDetails(db, orderId) };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return recorded;
      // A closed workflow cannot always answer queries; Postgres has its final word.
      return loadOrderDetails(db, orderId);
    }
  }

  return router;
}

function respondWithPlacement(res: import('express').Response, view: CheckoutView, replayed: boolean): void {
  if (view.status === 'FAILED' && view.reason === OrderReason.SoldOut) throw soldOut(undefined, view.orderId);
  if (view.status === 'FAILED' && view.reason === OrderReason.OpenHoldLimit) throw openHoldLimit(view.orderId);
  if (view.status === 'FAILED' && view.reason === OrderReason.InsufficientPoints)
    throw problems.conflict('insufficient-points', 'the buyer has fewer available points than redeemed', {
      orderId: view.orderId,
    });
  if (view.status === 'FAILED' && view.reason === OrderReason.BuyerTicketLimit)
    throw problems.conflict('limit-exceeded', 'the buyer may not hold more tickets of this event', {
      limit: 'tickets-per-buyer',
      orderId: view.orderId,
    });
  const { buyerId: _b, ...body } = view as CheckoutView & { buyerId?: string };
  res.locals.checkoutOutcome = view.status;
  // A replay answers exactly as the first request did (status included, as Stripe does), and says it is one.
  res.status(201).setHeader('Location', `/v1/checkouts/${view.orderId}`);
  if (replayed) res.setHeader('Idempotent-Replayed', 'true');
  res.json(body);
}

/**
 * Buyers see business reasons only (PAYMENT_DECLINED, CANCELLED_BY_SUPPORT): provider errors, webhook ids and
 * staff ids stay in the workflow and the logs, for support.
 */
function asSeenBy<T extends { reason?: string; reasonDetail?: string; history: OrderHistoryEntry[] }>(
  caller: Principal,
  view: T,
): T {
  if (isStaffDesk(caller)) return view;
  const { reasonDetail: _detail, reason, ...rest } = view;
  const code = buyerFacingReason(reason);
  return {
    ...rest,
    ...(code ? { reason: code } : {}),
    history: view.history.map(({ reason: entryReason, ...entry }) => {
      const entryCode = buyerFacingReason(entryReason);
      return { ...entry, ...(entryCode ? { reason: entryCode } : {}) };
    }),
  } as T;
}

/** Support and admin: they see an order's reasons in full and the messages sent about it. */
function isStaffDesk(caller: Principal): boolean {
  return caller.role === 'support' || caller.role === 'admin';
}

/** Door tokens are let through only to be told what a missing order says: they never learn that an order exists. */
function canRead(caller: Principal, buyerId: string): boolean {
  if (isDoorToken(caller)) return false;
  return caller.role === 'support' || caller.role === 'admin' || caller.sub === buyerId;
}

function orderIdParam(req: Request): string {
  const orderId = String(req.params.orderId ?? '');
  if (!ID_PATTERN.test(orderId)) throw problems.notFound(`order ${orderId.slice(0, 64)}`);
  if (req.res) bindOrder(req.res, orderId);
  return orderId;
}

/**
 * Counts every answer to POST /v1/checkouts by outcome: the order status answered (`AWAITING_PAYMENT`, `PAID`,
 * ...) or the refusal (`sold-out`, `limit-exceeded`, `validation`, ...), and the payment method asked for.
 */
const countCheckoutOutcome: RequestHandler = (req, res, next) => {
  res.on('finish', () => {
    const method = (req.body as { payment?: { method?: unknown } } | undefined)?.payment?.method;
    businessMetrics.checkouts.inc({
      outcome: String(res.locals.checkoutOutcome ?? res.locals.problem ?? `http-${res.statusCode}`),
      method: method === 'card' || method === 'crypto' ? method : 'unknown',
    });
  });
  next();
};

const soldOut = (name?: string, orderId?: string) =>
  problems.conflict(
    'sold-out',
    name ? `not enough "${name}" tickets left` : 'not enough tickets left',
    orderId ? { orderId } : {},
  );
const openHoldLimit = (orderId?: string) =>
  problems.conflict('limit-exceeded', 'too many unpaid orders are holding seats; pay or cancel one first', {
    limit: 'open-holds-per-buyer',
    ...(orderId ? { orderId } : {}),
  });
const buyerTicketLimit = (breach: BuyerTicketLimitBreach) =>
  problems.conflict(
    'limit-exceeded',
    `a buyer may hold or own at most ${breach.max} tickets ${
      breach.ticketTypeId ? 'of this ticket type' : 'of this event'
    } (already ${breach.already}, asked for ${breach.requested})`,
    {
      limit: breach.limit,
      max: breach.max,
      ...(breach.ticketTypeId ? { ticketTypeId: breach.ticketTypeId } : {}),
    },
  );
const reusedKey = () =>
  new Problem(
    422,
    'idempotency-key-reused',
    'Unprocessable Content',
    'this Idempotency-Key was used with a different request',
  );
const notCancellable = (status: string) =>
  problems.conflict('not-cancellable', `the order is ${status} and can no longer be cancelled`);
