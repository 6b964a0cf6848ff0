// The mixed sale (issue 12): a flash sale paid the way a real crowd pays, beside the instant-only one. 70% of the
// buyers pay with an instant card (`pm_card_visa`), 15% with a card that needs 3-D Secure, completed on the
// sandbox's challenge page, and 15% in crypto, paid on the sandbox's crypto page. The last two only become PAID
// when the sandbox's signed webhook reaches the API, so this phase runs with webhooks on (`SANDBOX_WEBHOOKS=on` in
// the worker and the API), where the instant-only sale runs with them off.
//
// A buyer's journey: POST /v1/checkouts with the payment of its plan; for a 3-D Secure or crypto buyer the press on
// the hosted page (`completeHostedPayment`); then GET /v1/checkouts/:id until the buyer sees PAID. The sale's loop
// (bench/sale.ts) walks the journey and keeps each buyer's checkout-to-PAID time under its plan's method, and
// `mixedSaleFigures` turns those into the report's figures.
import type { Flags } from './flags';
import { auditVerdict, saleOnItsOwnStack, type OwnStackSale } from './own-stack-sale';
import { latencySummary } from './report';
import { INSTANT_CARD, type PaymentPlan as SalePaymentPlan } from './sale';
import { cpuMsPerOrderByKind, platformCpuText, saleCost } from './scale-out';
import type { MixedSaleFigures } from './summary';

/** How a buyer pays, as the report names it. */
export type PaymentMethodKind = 'card' | '3ds' | 'crypto';

/** The `payment` field of `POST /v1/checkouts` (shared/API.md). */
export type CheckoutPaymentBody = SalePaymentPlan['payment'];

/** The parts of the checkout's 201 answer the hosted-page press needs. */
export interface PlacedCheckout {
  payment?: { hostedUrl?: string };
}

/** What one buyer does to pay: what it sends with the checkout, and how it completes a payment left open. */
export interface PaymentPlan extends SalePaymentPlan {
  kind: PaymentMethodKind;
  /**
   * The button pressed on the sandbox hosted page (`POST <hostedUrl>/complete`): the challenge passed, the crypto
   * paid. Absent for an instant card, which the checkout's own answer already shows PAID.
   */
  press?: HostedPagePress;
}

/** The buttons the mixed sale's buyers press: 3-D Secure passed, crypto paid on time. */
export type HostedPagePress = 'succeeded' | 'confirmed';

/** The payment state a press must leave for the order to be paid by its webhook. */
export const PAID_AFTER_PRESS: Readonly<Record<HostedPagePress, string>> = {
  succeeded: 'succeeded',
  confirmed: 'COMPLETED',
};

/** A plan whose buyer presses `press` on the hosted page, and fails loudly if the page did not take it. */
function pressingPlan(kind: PaymentMethodKind, payment: CheckoutPaymentBody, press: HostedPagePress): PaymentPlan {
  const plan: PaymentPlan = {
    kind,
    payment,
    press,
    complete: async (order) => {
      const answer = await completeHostedPayment(plan, order);
      if (answer.paymentStatus !== PAID_AFTER_PRESS[press])
        throw new Error(`the hosted page answered ${answer.status ?? 'nothing'} ${answer.paymentStatus ?? ''}`);
    },
  };
  return plan;
}

const PLANS: Record<PaymentMethodKind, PaymentPlan> = {
  // The instant-only sale's buyer, unchanged: the mixed sale differs from it only by the other 30%.
  card: { ...INSTANT_CARD, kind: 'card' },
  '3ds': pressingPlan('3ds', { method: 'card', paymentMethodId: 'pm_card_threeDSecure2Required' }, 'succeeded'),
  crypto: pressingPlan('crypto', { method: 'crypto' }, 'confirmed'),
};

/** The instant-only sale's plan, for every buyer. */
export const instantCardPlan = (): PaymentPlan => PLANS.card;

/** The issue's mix: 70% instant card, 15% 3-D Secure, 15% crypto. */
export const MIXED_SALE_SHARES: Readonly<Record<PaymentMethodKind, number>> = {
  card: 0.7,
  '3ds': 0.15,
  crypto: 0.15,
};

/** The smallest number of buyers over which the mix comes out exactly (14 + 3 + 3). */
export const MIX_CYCLE_LENGTH = 20;

/**
 * One cycle of buyers, each slot given to the method furthest behind its share so far: the mix holds over every
 * 20 consecutive buyers and the slow methods are spread through the cycle rather than bunched at its end, so a
 * sale cut short by the clock or by the last seat still has its mix.
 */
function mixCycle(shares: Readonly<Record<PaymentMethodKind, number>>, length: number): PaymentMethodKind[] {
  const kinds = Object.keys(shares) as PaymentMethodKind[];
  const taken = Object.fromEntries(kinds.map((k) => [k, 0])) as Record<PaymentMethodKind, number>;
  const cycle: PaymentMethodKind[] = [];
  for (let slot = 1; slot <= length; slot++) {
    const behind = (k: PaymentMethodKind) => slot * shares[k] - taken[k];
    const next = kinds.reduce((best, k) => (behind(k) > behind(best) ? k : best));
    taken[next]++;
    cycle.push(next);
  }
  return cycle;
}
const CYCLE = mixCycle(MIXED_SALE_SHARES, MIX_CYCLE_LENGTH);

/** The mixed sale's plan for buyer `i` (0-based): the same buyer index always pays the same way. */
export function mixedSalePlan(i: number): PaymentPlan {
  return PLANS[CYCLE[((i % MIX_CYCLE_LENGTH) + MIX_CYCLE_LENGTH) % MIX_CYCLE_LENGTH]!];
}

/** What the hosted page answered to the press; `status` is missing when no answer came. */
export interface PressAnswer {
  status?: number;
  /** The payment's state after the press: `succeeded` (3-D Secure), `COMPLETED` (crypto). */
  paymentStatus?: string;
  attempts: number;
}

/**
 * Presses the plan's button on the order's sandbox hosted page, as the buyer's browser would (JSON instead of a
 * form post, to read the payment's new state). Errors and 5xx are retried a few times: the press is idempotent,
 * a second one on a settled payment changes nothing. The order becomes PAID later, once the webhook is in.
 */
export async function completeHostedPayment(
  plan: Pick<PaymentPlan, 'press'>,
  placed: PlacedCheckout,
  options: { fetch?: typeof fetch; retryDelayMs?: number; attempts?: number } = {},
): Promise<PressAnswer> {
  const answer: PressAnswer = { attempts: 0 };
  const hostedUrl = placed.payment?.hostedUrl;
  if (!plan.press || !hostedUrl) return answer;
  const send = options.fetch ?? fetch;
  const maxAttempts = options.attempts ?? 5;
  while (answer.attempts < maxAttempts) {
    answer.attempts++;
    try {
      const res = await send(`${hostedUrl}/complete`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ outcome: plan.press }),
      });
      answer.status = res.status;
      const body = (await res.json().catch(() => null)) as { status?: string } | null;
      answer.paymentStatus = body?.status;
      if (res.status < 500) return answer;
    } catch {
      answer.status = undefined; // the API did not answer: press again
    }
    await new Promise((r) => setTimeout(r, options.retryDelayMs ?? 200));
  }
  return answer;
}

/** What the mixed sale observed: tickets in PAID answers and each paid buyer's checkout-to-PAID time by method. */
export interface MixedSaleObservation {
  tickets: number;
  /** Seconds of the selling window (as the instant sale's: to the last sale when the seats ran out). */
  windowSeconds: number;
  paidMsByMethod: Partial<Record<PaymentMethodKind, number[]>>;
}

/** The mixed sale's figures for the report: `mixedTicketsPerMinute` and checkout-to-PAID by method. */
export function mixedSaleFigures(observed: MixedSaleObservation) {
  const byMethod = Object.fromEntries(
    (Object.keys(MIXED_SALE_SHARES) as PaymentMethodKind[]).map((kind) => {
      const paid = observed.paidMsByMethod[kind] ?? [];
      return [kind, { paid: paid.length, ...latencySummary(paid) }];
    }),
  ) as Record<PaymentMethodKind, { paid: number; p50: number; p95: number; p99: number }>;
  return {
    mixedTicketsPerMinute: Math.round((observed.tickets / Math.max(0.001, observed.windowSeconds)) * 60),
    /** Checkout to PAID, p95, per method: the JSON line's `mixedPaidP95Ms`. */
    mixedPaidP95Ms: Object.fromEntries(Object.entries(byMethod).map(([k, v]) => [k, v.p95])) as Record<
      PaymentMethodKind,
      number
    >,
    byMethod,
  };
}

/** Settings of the mixed sale's stack on top of the bench's: the sandbox sends its webhooks, as in production. */
export const MIXED_SALE_ENV = { SANDBOX_WEBHOOKS: 'on' } as const;

/** The mixed sale, on a fresh stack whose worker and API run with webhooks on (own-stack-sale.ts). */
export function runMixedSale(flags: Flags, runId: string, log: (line: string) => void): Promise<OwnStackSale> {
  log('mixed sale: 70% instant card, 15% 3-D Secure, 15% crypto, on a stack of its own with webhooks on');
  return saleOnItsOwnStack({
    flags,
    runId,
    name: 'mixed sale',
    stack: { env: MIXED_SALE_ENV },
    pay: mixedSalePlan,
    log,
  });
}

/**
 * The mixed sale's part of the report: its figures for the summary's `mixed` slot (with its lines of the summary
 * text), its books' keys for the JSON line, and details for the results file.
 */
export function mixedSaleReport(run: OwnStackSale, instantTicketsPerMinute: number | null) {
  const s = run.sale.result;
  const figures = mixedSaleFigures({
    tickets: s.tickets,
    windowSeconds: run.windowSeconds,
    paidMsByMethod: s.paidMsByKind,
  });
  const { ok, problems } = auditVerdict(run);
  const lines = [
    `Mixed sale (70% instant card, 15% 3-D Secure, 15% crypto; webhooks on; a stack of its own)`,
    `  tickets/minute         ${figures.mixedTicketsPerMinute} (instant-only ${instantTicketsPerMinute ?? 'not run'}); ` +
      `${s.tickets} tickets in ${Math.round(run.windowSeconds * 10) / 10}s; ${s.soldOut} sold-out answers`,
    ...Object.entries(figures.byMethod).map(
      ([kind, f]) => `  ${`${kind} -> PAID`.padEnd(22)} p50 ${f.p50} ms, p95 ${f.p95} ms (${f.paid} paid orders)`,
    ),
    `  CPU ms per checkout    ${platformCpuText(cpuMsPerOrderByKind(saleCost(run)))}`,
    `  machine                other people's processes used ${run.otherProcessesCores} cores`,
    `  oversold, invariants   ${run.invariants.oversold}; ${ok ? 'ok' : problems.join('; ')}` +
      (Object.keys(s.errors).length ? `; errors ${JSON.stringify(s.errors)}` : ''),
  ];
  const slot: MixedSaleFigures = {
    ticketsPerMinute: figures.mixedTicketsPerMinute,
    checkoutsPerMinute: Math.round((s.paidOrderIds.length / run.windowSeconds) * 60),
    paidByKind: s.paidByKind,
    paidP95MsByKind: figures.mixedPaidP95Ms,
    lines,
  };
  const json = { mixedOversold: run.invariants.oversold, mixedInvariantsOk: ok };
  const details = {
    ...figures,
    windowSeconds: run.windowSeconds,
    otherProcessesCores: run.otherProcessesCores,
    cpuMsPerCheckout: cpuMsPerOrderByKind(saleCost(run)),
    paidByKind: s.paidByKind,
    unpaid: s.unpaid,
    errors: s.errors,
    invariants: run.invariants,
    lostOrders: run.lostOrders,
    perOrder: run.perOrder,
  };
  return { slot, json, details, ok };
}
