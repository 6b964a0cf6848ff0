// Payouts: statuses and their state machine, the balance rule (what is available and what is pending), the
// finance report's arithmetic, and the messages payoutWorkflow shares with the API. Pure: no I/O.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { PostingKind } from './ledger';

/** Task queue of payoutWorkflow, reconciliationWorkflow and their activities. */
export const PAYOUTS_TASK_QUEUE = 'payouts';

export const PAYOUT_STATUSES = ['PENDING', 'AWAITING_APPROVAL', 'IN_TRANSIT', 'PAID', 'FAILED'] as const;
/** Where a payout stands, as in the API contract. */
export type PayoutStatus = (typeof PAYOUT_STATUSES)[number];

/** Statuses of a payout that still runs; at most one per organizer (a partial unique index says so too). */
export const RUNNING_PAYOUT_STATUSES: readonly PayoutStatus[] = ['PENDING', 'AWAITING_APPROVAL', 'IN_TRANSIT'];

const PAYOUT_TRANSITIONS: Record<PayoutStatus, readonly PayoutStatus[]> = {
  PENDING: ['AWAITING_APPROVAL', 'IN_TRANSIT', 'FAILED'],
  AWAITING_APPROVAL: ['IN_TRANSIT', 'FAILED'],
  IN_TRANSIT: ['PAID', 'FAILED'],
  PAID: [],
  FAILED: [],
};

/** True when a payout may move from one status to the other. */
export function canTransitionPayout(from: PayoutStatus, to: PayoutStatus): boolean {
  return PAYOUT_TRANSITIONS[from].includes(to);
}

/** True once a payout can change no more. */
export function isPayoutFinal(status: PayoutStatus): boolean {
  return PAYOUT_TRANSITIONS[status].length === 0;
}

/** One payout workflow per organizer and payout: `payout-<organizerId>-<payoutId>`. */
export function payoutWorkflowId(organizerId: string, payoutId: string): string {
  return `payout-${organizerId}-${payoutId}`;
}

/** The idempotency key of a payout's Connect transfer. */
export function payoutTransferKey(payoutId: string): string {
  return `payout:${payoutId}`;
}

/** What payoutWorkflow starts with; the amount is decided from the ledger when the payout is created. */
export interface PayoutInput {
  organizerId: string;
  payoutId: string;
  idempotencyKey: string;
  /** `<role>:<sub>` of whoever asked. */
  requestedBy: string;
}

/** A payout as `GET /v1/organizers/:organizerId/payouts/:payoutId` returns it. */
export interface PayoutView {
  payoutId: string;
  organizerId: string;
  status: PayoutStatus;
  amountMinor: number;
  currency: string;
  /** Organizer debt (refunds after an earlier payout) paid off from this payout's money before the transfer. */
  debtSettledMinor: number;
  requiresApproval: boolean;
  approvedBy: string | null;
  transferId: string | null;
  failureReason: string | null;
  createdAt: string;
  paidAt: string | null;
}

/** Why a payout request was refused; each is a problem type the API answers 409 with. */
export const PayoutRefusal = {
  NothingToPayOut: 'nothing-to-pay-out',
  PayoutInProgress: 'payout-in-progress',
  NoPayoutAccount: 'no-payout-account',
} as const;
export type PayoutRefusal = (typeof PayoutRefusal)[keyof typeof PayoutRefusal];

/** How creating a payout went: created (with the payout), or refused by a rule, with nothing changed. */
export type PayoutPlacement =
  | { outcome: 'created'; payout: PayoutView }
  | { outcome: 'refused'; rule: PayoutRefusal; detail: string };

/** How payoutWorkflow ended. */
export interface PayoutResult {
  placement: PayoutPlacement;
  status: PayoutStatus | 'REFUSED';
}

/** Update sent with the start: answers once the payout is created from the ledger, or refused. */
export const awaitPayoutPlacementUpdate = defineUpdate<PayoutPlacement>('awaitPayoutPlacement');
/** Update (admin): approves a payout above the approval threshold. Refused unless it is AWAITING_APPROVAL. */
export const approvePayoutUpdate = defineUpdate<PayoutView, [{ approvedBy: string }]>('approvePayout');
/** Update (admin): rejects a payout waiting for approval; its money goes back to the organizer's balance. */
export const rejectPayoutUpdate = defineUpdate<PayoutView, [{ rejectedBy: string; reason: string }]>(
  'rejectPayout',
);
/** Query: the payout as it stands. */
export const payoutStatusQuery = defineQuery<PayoutView | null>('payoutStatus');

/** Thrown by the approval validators; the API turns it into 409 `/payout-not-awaiting-approval`. */
export const PAYOUT_NOT_AWAITING_APPROVAL = 'PayoutNotAwaitingApproval';

/**
 * The ledger of one organizer, summed by currency, event, posting kind and account class (the part of the
 * account name before `:`). The balance and the finance report are computed from these sums alone.
 */
export interface LedgerSum {
  currency: string;
  eventId: string | null;
  /** When the event ended (or ends); null for lines without an event (payouts, debt). */
  eventEndsAt: string | null;
  kind: PostingKind | null;
  accountClass: string;
  amountMinor: number;
}

/** One event's figures in the finance report. */
export interface EventFinance {
  eventId: string;
  grossMinor: number;
  feesMinor: number;
  refundsMinor: number;
  netMinor: number;
  endsAt: string | null;
  /** When the event's net becomes available for payout (its end plus the payout delay). */
  availableFrom: string | null;
}

/** One currency's figures in the finance report: `netMinor = paidOut + inTransit + available + pending - debt`. */
export interface CurrencyFinance {
  currency: string;
  grossMinor: number;
  feesMinor: number;
  refundsMinor: number;
  netMinor: number;
  paidOutMinor: number;
  inTransitMinor: number;
  debtMinor: number;
  availableMinor: number;
  pendingMinor: number;
  events: EventFinance[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** When an event's money may be paid out: it ended more than `delayDays` ago. */
export function availableFrom(eventEndsAt: string, delayDays: number): Date {
  return new Date(new Date(eventEndsAt).getTime() + delayDays * DAY_MS);
}

/**
 * The finance figures of one organizer from its ledger sums. An event's net is available once the event ended
 * more than `delayDays` ago, pending before. Payouts (paid, in transit or awaiting approval) are taken from the
 * available money first; a refund that came after its money was paid out eats into pending money, and what
 * even that cannot cover is the organizer's debt (recorded in the ledger by the refund-after-payout rule).
 */
export function financeFromLedger(sums: LedgerSum[], now: Date, delayDays: number): CurrencyFinance[] {
  const currencies = new Map<string, { events: Map<string, EventFinance>; sums: LedgerSum[] }>();
  for (const s of sums) {
    let c = currencies.get(s.currency);
    if (!c) currencies.set(s.currency, (c = { events: new Map(), sums: [] }));
    c.sums.push(s);
    if (s.eventId === null || (s.kind !== 'sale' && s.kind !== 'refund')) continue;
    let e = c.events.get(s.eventId);
    if (!e) {
      e = {
        eventId: s.eventId,
        grossMinor: 0,
        feesMinor: 0,
        refundsMinor: 0,
        netMinor: 0,
        endsAt: s.eventEndsAt,
        availableFrom: s.eventEndsAt ? availableFrom(s.eventEndsAt, delayDays).toISOString() : null,
      };
      c.events.set(s.eventId, e);
    }
    if (s.accountClass === 'provider_clearing' && s.kind === 'sale') e.grossMinor += s.amountMinor;
    if (s.accountClass === 'provider_clearing' && s.kind === 'refund') e.refundsMinor -= s.amountMinor;
    if (s.accountClass === 'platform_revenue') e.feesMinor -= s.amountMinor;
    if (s.accountClass === 'organizer_payable') e.netMinor -= s.amountMinor;
  }
  const result: CurrencyFinance[] = [];
  for (const [currency, c] of [...currencies].sort(([a], [b]) => a.localeCompare(b))) {
    const events = [...c.events.values()].sort((a, b) => a.eventId.localeCompare(b.eventId));
    const total = (f: (s: LedgerSum) => boolean) => c.sums.filter(f).reduce((n, s) => n + s.amountMinor, 0);
    const paidOutMinor = -total((s) => s.kind === 'payout-paid' && s.accountClass === 'provider_clearing');
    const inTransitMinor = -total((s) => s.accountClass === 'payouts_in_transit');
    const debtMinor = total((s) => s.accountClass === 'organizer_debt');
    // Payouts not reversed: reservations less reversals, on the in-transit account.
    const consumedMinor = -total(
      (s) =>
        s.accountClass === 'payouts_in_transit' && (s.kind === 'payout-reserve' || s.kind === 'payout-reversed'),
    );
    const isMatured = (e: EventFinance) => e.availableFrom !== null && new Date(e.availableFrom) <= now;
    const maturedMinor = events.filter(isMatured).reduce((n, e) => n + e.netMinor, 0);
    const unmaturedMinor = events.filter((e) => !isMatured(e)).reduce((n, e) => n + e.netMinor, 0);
    const settled = maturedMinor - consumedMinor;
    result.push({
      currency,
      grossMinor: events.reduce((n, e) => n + e.grossMinor, 0),
      feesMinor: events.reduce((n, e) => n + e.feesMinor, 0),
      refundsMinor: events.reduce((n, e) => n + e.refundsMinor, 0),
      netMinor: events.reduce((n, e) => n + e.netMinor, 0),
      paidOutMinor,
      inTransitMinor,
      debtMinor,
      availableMinor: Math.max(0, settled),
      pendingMinor: Math.max(0, unmaturedMinor + Math.min(0, settled)),
      events,
    });
  }
  return result;
}

/** An organizer's balance, as `GET .../balance` returns it. */
export interface PayoutBalance {
  availableMinor: number;
  pendingMinor: number;
  currency: string;
  debtMinor: number;
  inTransitMinor: number;
}

/** The balance in one currency (the organizer's own), zero when nothing was sold in it. */
export function balanceIn(finance: CurrencyFinance[], currency: string): PayoutBalance {
  const c = finance.find((f) => f.currency === currency);
  return {
    availableMinor: c?.availableMinor ?? 0,
    pendingMinor: c?.pendingMinor ?? 0,
    currency,
    debtMinor: c?.debtMinor ?? 0,
    inTransitMinor: c?.inTransitMinor ?? 0,
  };
}

/** Whether a payout of this amount waits for an admin's approval. */
export function payoutNeedsApproval(amountMinor: number, thresholdMinor: number): boolean {
  return amountMinor > thresholdMinor;
}

/** The finance report as a CSV file for accountants: one row per event and one total row per currency. */
export function financeCsv(finance: CurrencyFinance[]): string {
  const header = [
    'currency',
    'scope',
    'eventId',
    'grossMinor',
    'feesMinor',
    'refundsMinor',
    'netMinor',
    'paidOutMinor',
    'inTransitMinor',
    'debtMinor',
    'availableMinor',
    'pendingMinor',
  ];
  const rows = [header.join(',')];
  const cell = (v: string | number) =>
    typeof v === 'number' || /^[A-Za-z0-9_-]*$/.test(v) ? String(v) : `"${v.replace(/"/g, '""')}"`;
  for (const c of finance) {
    for (const e of c.events) {
      rows.push(
        [c.currency, 'event', e.eventId, e.grossMinor, e.feesMinor, e.refundsMinor, e.netMinor, '', '', '', '', '']
          .map(cell)
          .join(','),
      );
    }
    rows.push(
      [
        c.currency,
        'total',
        '',
        c.grossMinor,
        c.feesMinor,
        c.refundsMinor,
        c.netMinor,
        c.paidOutMinor,
        c.inTransitMinor,
        c.debtMinor,
        c.availableMinor,
        c.pendingMinor,
      ]
        .map(cell)
        .join(','),
    );
  }
  return rows.join('\r\n') + '\r\n';
}
