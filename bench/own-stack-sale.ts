// A sale on a stack of its own, for the phases that need the platform set up differently from the instant sale's:
// the mixed sale (webhooks on) and the scale-out check (two workers, two APIs). Each gets a fresh stack, so its
// figures do not depend on what the sale before it left in Temporal or Postgres, with the same seats, buyers,
// concurrency, duration and warm-up as the instant sale, and the same audit.
import { cpus } from 'node:os';
import type { Db } from '../db';
import { checkInvariants, orderCost, type Invariants, type OrderCost } from './audit';
import type { Flags } from './flags';
import type { ResourceSample } from './processes';
import type { Phase, TimedRequest } from './report';
import { buyersOn, runCheckouts, seed, type CheckoutPhase, type PaymentPlan } from './sale';
import { startStack, type Measured, type StackOptions } from './stack';

/** What one such sale observed, with its own stack's timeline (for the chart). */
export interface OwnStackSale {
  sale: Measured<CheckoutPhase>;
  invariants: Invariants;
  /** Orders buyers were shown as PAID that the books do not have as PAID. */
  lostOrders: string[];
  /** History events and Temporal actions of the workflows sampled orders started. */
  perOrder: OrderCost;
  /** Seconds of the selling window: to the last sale when the seats ran out before the clock, as the instant sale's. */
  windowSeconds: number;
  /** Cores that processes not of this stack used during the sale: other people's work on a shared machine. */
  otherProcessesCores: number;
  /** Wall-clock milliseconds at which this stack's clock (`since`) read 0, to place its timeline beside others. */
  clockStartedAt: number;
  phases: Phase[];
  samples: ResourceSample[];
}

/** Brings up a stack with `stack` settings, sells, audits, reads a sample of histories, and shuts it down. */
export async function saleOnItsOwnStack(input: {
  flags: Flags;
  runId: string;
  /** Names the phase on the timeline and the buyers (`mixed sale`, `scale-out sale`). */
  name: string;
  stack: Pick<StackOptions, 'workers' | 'apis' | 'env'>;
  pay?: (i: number) => PaymentPlan;
  log: (line: string) => void;
}): Promise<OwnStackSale> {
  const { flags, runId, log } = input;
  const stack = await startStack({
    temporal: flags.temporal,
    keepData: false,
    profile: false,
    log,
    ...input.stack,
  });
  try {
    const catalogue = await seed(stack.db, runId, flags.seats, flags.quantity);
    const label = input.name.replace(/\W+/g, '-');
    const buyers = buyersOn(stack, catalogue, flags, runId, input.pay);
    const checkouts = (...args: Parameters<typeof buyers>) => runCheckouts(buyers(...args));
    if (flags.warmup > 0) {
      await stack.measure(`${input.name} warm-up`, () =>
        checkouts(`${label}-warmup`, catalogue.warmupTicketTypeId, flags.warmup, Number.MAX_SAFE_INTEGER),
      );
    }
    log(`${input.name} ${flags.duration}s`);
    const sale = await stack.measure(input.name, () =>
      checkouts(label, catalogue.ticketTypeId, flags.duration, flags.buyers),
    );
    const s = sale.result;
    log(`${input.name} done: ${s.tickets} tickets, ${s.soldOut} sold-out answers`);
    const invariants = await checkInvariants(stack.db, catalogue, s);
    stack.stopSampling();
    return {
      sale,
      invariants,
      lostOrders: await lostOrders(stack.db, s.paidOrderIds),
      perOrder: await orderCost(stack.client, s.paidOrderIds),
      windowSeconds: sellingWindowSeconds(s),
      otherProcessesCores: otherProcessesCores(stack.samples, s.from, s.to),
      clockStartedAt: Date.now() - stack.since() * 1000,
      phases: stack.phases,
      samples: stack.samples,
    };
  } finally {
    await stack.shutdown();
  }
}

/** Paid orders a buyer was shown that the database does not have as PAID: lost orders. */
export async function lostOrders(db: Db, paidOrderIds: string[]): Promise<string[]> {
  const found = new Set<string>();
  for (let i = 0; i < paidOrderIds.length; i += 1000) {
    const rows = await db('orders')
      .whereIn('id', paidOrderIds.slice(i, i + 1000))
      .where({ status: 'PAID' })
      .select('id');
    for (const r of rows) found.add(r.id as string);
  }
  return paidOrderIds.filter((id) => !found.has(id));
}

/**
 * The sale's timeline moved onto another stack's clock (`clockStartedAt` of that one), so that one chart shows the
 * phases of every stack in the order they ran.
 */
export function onTimelineOf(
  clockStartedAt: number,
  run: OwnStackSale,
): { phases: Phase[]; requests: TimedRequest[]; samples: ResourceSample[] } {
  const offset = (run.clockStartedAt - clockStartedAt) / 1000;
  return {
    phases: run.phases.map((p) => ({ ...p, from: p.from + offset, to: p.to + offset })),
    requests: run.sale.result.requests.map((r) => ({ ...r, end: r.end + offset })),
    samples: run.samples.filter((s) => s.t >= 0).map((s) => ({ ...s, t: s.t + offset })),
  };
}

/** The mean cores used between `from` and `to` by processes the samples do not cover, from the machine's busy time. */
export function otherProcessesCores(samples: ResourceSample[], from: number, to: number, cores = cpus().length) {
  const inside = samples.filter((r) => r.t > from && r.t <= to);
  const others = inside.map((r) => {
    const ours = Object.values(r.components).reduce((a, c) => a + c.cpuPercent, 0) / 100;
    return Math.max(0, (r.machineBusyPercent / 100) * cores - ours);
  });
  return Math.round((others.reduce((a, b) => a + b, 0) / Math.max(1, others.length)) * 100) / 100;
}

/** Seconds of a sale's selling window: to the last sale when the seats ran out before the clock, else to the end. */
export function sellingWindowSeconds(s: CheckoutPhase): number {
  const soldOutEarly = s.soldOut > 0 && s.lastPaidAt > 0;
  return Math.max(0.001, (soldOutEarly ? s.lastPaidAt : s.to) - s.from);
}

/** Whether a sale's books held (invariants ok, no order lost), and every way they did not. */
export function auditVerdict(run: Pick<OwnStackSale, 'invariants' | 'lostOrders'>) {
  const problems = [
    ...run.invariants.problems,
    ...(run.lostOrders.length ? [`${run.lostOrders.length} orders shown PAID are not PAID in the books`] : []),
  ];
  return { ok: problems.length === 0 && run.invariants.ok, problems };
}
