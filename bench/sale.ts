// The flash sale: an event with a limited ticket type, and buyers who each POST /v1/checkouts through the real
// API with their own token and Idempotency-Key, then follow their order until it settles.
import { performance } from 'node:perf_hooks';
import { issueToken } from '../api/auth';
import type { Config } from '../config';
import type { Db } from '../db';
import type { Flags } from './flags';
import { count, drive, sleep } from './load';
import type { TimedRequest } from './report';
import type { Stack } from './stack';

/** The benchmark's catalogue: an organizer, an event, the sale's ticket type and a warm-up one. */
export interface Catalogue {
  organizerId: string;
  eventId: string;
  ticketTypeId: string;
  warmupTicketTypeId: string;
  capacity: number;
}

/** Seeds the catalogue: `seats` for the sale, a practically unlimited ticket type for warm-ups and sweeps. */
export async function seed(db: Db, runId: string, seats: number, quantity: number): Promise<Catalogue> {
  const organizerId = 'org_bench';
  const eventId = `evt_bench_${runId}`;
  const ticketTypeId = `tt_bench_${runId}`;
  const warmupTicketTypeId = `tt_bench_warmup_${runId}`;
  await db('organizers')
    .insert({ id: organizerId, name: 'Bench Promotions', currency: 'USD' })
    .onConflict('id')
    .ignore();
  await db('events').insert({
    id: eventId,
    organizer_id: organizerId,
    name: 'Flash sale',
    starts_at: '2030-01-01T20:00:00Z',
  });
  const ticketType = (id: string, name: string, capacity: number) => ({
    id,
    event_id: eventId,
    name,
    price_minor: 2500,
    currency: 'USD',
    capacity,
    max_per_order: Math.max(10, quantity),
  });
  await db('ticket_types').insert([
    ticketType(ticketTypeId, 'Flash sale seat', seats),
    ticketType(warmupTicketTypeId, 'Warm-up seat', 1_000_000),
  ]);
  return { organizerId, eventId, ticketTypeId, warmupTicketTypeId, capacity: seats };
}

/** An order as POST /v1/checkouts answered it (the fields the bench reads). */
export interface PlacedOrder {
  orderId: string;
  status: string;
  reason?: string;
  payment?: { method?: string; status?: string; hostedUrl?: string; clientSecret?: string };
}

/** How one buyer pays: what the POST carries, and what the buyer does once the order is placed. */
export interface PaymentPlan {
  /** A name for the breakdown of a mixed sale (`card`, `3ds`, `crypto`). */
  kind: string;
  /** The `payment` object of POST /v1/checkouts (shared/API.md). */
  payment: { method: 'card'; paymentMethodId: string } | { method: 'crypto' };
  /** Completes an open order as a buyer would (a 3-D Secure page, a crypto wallet); the sale then polls it. */
  complete?: (order: PlacedOrder, buyer: { token: string; apiUrl: string }) => Promise<void>;
}

/** Every buyer of the instant-only sale: a card that succeeds at once, no webhook. */
export const INSTANT_CARD: PaymentPlan = {
  kind: 'card',
  payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
};

/** What one run of checkouts observed from the buyers' side. */
export interface CheckoutPhase {
  from: number;
  to: number;
  requests: TimedRequest[];
  /** POST latency of the requests that got an order (the sold-out refusals are quick and kept apart). */
  postMs: number[];
  soldOutMs: number[];
  paidMs: number[];
  paidOrderIds: string[];
  /** Paid orders by payment kind (PaymentPlan.kind). */
  paidByKind: Record<string, number>;
  /** Checkout-to-PAID milliseconds by payment kind, for a mixed sale's breakdown. */
  paidMsByKind: Record<string, number[]>;
  tickets: number;
  soldOut: number;
  /** Orders that ended without tickets for another reason (FAILED, EXPIRED...), by status and reason. */
  unpaid: Record<string, number>;
  /** Responses that were neither an order nor sold-out (5xx, network errors...), by status. */
  errors: Record<string, number>;
  lastPaidAt: number;
}

/** One run of checkouts: who buys what, how many at once, for how long. */
export interface SaleOptions {
  config: Config;
  runId: string;
  /** Distinguishes buyers (and their Idempotency-Keys' owners) of different phases in one run. */
  label: string;
  /** The API processes; buyer i uses apiUrls[i % length]. */
  apiUrls: string[];
  eventId: string;
  ticketTypeId: string;
  quantity: number;
  concurrency: number;
  seconds: number;
  buyers: number;
  /** The bench's clock (seconds since the meters started). */
  since: () => number;
  /** How buyer i pays; every buyer pays with an instant card unless given. */
  pay?: (i: number) => PaymentPlan;
  /** How long a buyer follows an open order before giving up on it. */
  settleMs?: number;
}

/** Drives `buyers` buyers, `concurrency` at a time, until they or `seconds` run out. */
export async function runCheckouts(options: SaleOptions): Promise<CheckoutPhase> {
  const { config, since, quantity } = options;
  const pay = options.pay ?? (() => INSTANT_CARD);
  const phase: CheckoutPhase = {
    from: since(),
    to: 0,
    requests: [],
    postMs: [],
    soldOutMs: [],
    paidMs: [],
    paidOrderIds: [],
    paidByKind: {},
    paidMsByKind: {},
    tickets: 0,
    soldOut: 0,
    unpaid: {},
    errors: {},
    lastPaidAt: 0,
  };
  const buy = async (i: number) => {
    const plan = pay(i);
    const apiUrl = options.apiUrls[i % options.apiUrls.length]!;
    const sub = `bench_${options.runId}_${options.label}_${i}`;
    const token = issueToken(config, { sub, role: 'buyer' }, 3600);
    const started = performance.now();
    let status: number;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the API's JSON, read field by field
    let json: any;
    try {
      const res = await fetch(`${apiUrl}/v1/checkouts`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'idempotency-key': `bench-${i}`,
        },
        body: JSON.stringify({
          eventId: options.eventId,
          items: [{ ticketTypeId: options.ticketTypeId, quantity }],
          payment: plan.payment,
          buyer: { email: `buyer${i}@bench.example` },
        }),
      });
      status = res.status;
      const text = await res.text();
      json = text ? JSON.parse(text) : null;
    } catch (err) {
      count(phase.errors, `network: ${(err as Error).message}`);
      return;
    }
    const postMs = performance.now() - started;
    if (status === 201 || status === 200) {
      phase.postMs.push(postMs);
      let order = json as PlacedOrder | null;
      const open = (o: PlacedOrder | null) =>
        o?.status === 'AWAITING_PAYMENT' || o?.status === 'PAYMENT_PROCESSING';
      if (order && open(order) && plan.complete) {
        try {
          await plan.complete(order, { token, apiUrl });
        } catch (err) {
          count(phase.errors, `${plan.kind} completion: ${(err as Error).message.slice(0, 80)}`);
        }
      }
      // An instant card payment answers PAID already; anything still open is polled until it settles.
      const pollUntil = Date.now() + (options.settleMs ?? 60_000);
      while (order && open(order)) {
        if (Date.now() > pollUntil) break;
        await sleep(100);
        const res = await fetch(`${apiUrl}/v1/checkouts/${json.orderId}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        order = res.ok ? ((await res.json()) as PlacedOrder) : order;
      }
      if (order?.status === 'PAID') {
        const paidMs = performance.now() - started;
        phase.paidMs.push(paidMs);
        (phase.paidMsByKind[plan.kind] ??= []).push(paidMs);
        phase.paidOrderIds.push(json.orderId);
        count(phase.paidByKind, plan.kind);
        phase.tickets += quantity;
        phase.lastPaidAt = since();
        phase.requests.push({ end: since(), latencyMs: postMs, units: quantity });
      } else {
        count(phase.unpaid, `${order?.status ?? 'unknown'} ${order?.reason ?? ''}`.trim());
        phase.requests.push({ end: since(), latencyMs: postMs, units: 0 });
      }
    } else if (status === 409 && String(json?.type).endsWith('/sold-out')) {
      phase.soldOut++;
      phase.soldOutMs.push(postMs);
      phase.requests.push({ end: since(), latencyMs: postMs, units: 0 });
    } else {
      count(phase.errors, `HTTP ${status} ${json?.type ?? ''}`.trim());
    }
  };
  await drive(options.concurrency, options.seconds, options.buyers, buy);
  phase.to = since();
  return phase;
}

/**
 * The run's buyers on `stack` for `catalogue`, with the flags' quantity and concurrency: a phase then only says who
 * buys (`label`), what, for how long and how many.
 */
export function buyersOn(
  stack: Pick<Stack, 'config' | 'apiUrls' | 'since'>,
  catalogue: Pick<Catalogue, 'eventId'>,
  flags: Pick<Flags, 'quantity' | 'concurrency'>,
  runId: string,
  pay?: (i: number) => PaymentPlan,
) {
  return (label: string, ticketTypeId: string, seconds: number, count: number): SaleOptions => ({
    config: stack.config,
    runId,
    label,
    apiUrls: stack.apiUrls,
    eventId: catalogue.eventId,
    ticketTypeId,
    quantity: flags.quantity,
    concurrency: flags.concurrency,
    seconds,
    buyers: count,
    since: stack.since,
    ...(pay ? { pay } : {}),
  });
}
