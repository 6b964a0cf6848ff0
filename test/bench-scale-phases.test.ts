import { mixedSaleReport } from '../bench/mixed-sale';
import { onTimelineOf, otherProcessesCores, type OwnStackSale } from '../bench/own-stack-sale';
import type { CheckoutPhase } from '../bench/sale';
import { scaleOutReport, type SaleCost } from '../bench/scale-out';
import { instantSale, perOrderFigures } from '../bench/scale-phases';

/** A sale on a stack of its own, as saleOnItsOwnStack returns it, with round figures. */
function ownStackSale(overrides: Partial<CheckoutPhase> = {}, cpu: Record<string, number> = {}): OwnStackSale {
  const result: CheckoutPhase = {
    from: 10,
    to: 40,
    requests: [{ end: 12, latencyMs: 100, units: 1 }],
    postMs: [],
    soldOutMs: [],
    paidMs: [],
    paidOrderIds: Array.from({ length: 100 }, (_, i) => `ord_${i}`),
    paidByKind: {},
    paidMsByKind: {},
    tickets: 100,
    soldOut: 0,
    unpaid: {},
    errors: {},
    lastPaidAt: 0,
    ...overrides,
  };
  return {
    sale: { result, cpu },
    invariants: {
      ok: true,
      oversold: 0,
      sold: 100,
      held: 0,
      ticketRows: 100,
      paidOrders: 100,
      paidWithoutExactlyOneCharge: 0,
      ledgerImbalanceMinor: 0,
      openOrders: 0,
      problems: [],
    },
    lostOrders: [],
    perOrder: {
      sampled: 10,
      workflowsPerOrder: 1,
      eventsPerOrder: 20,
      actionsPerOrder: 9,
      eventsByType: {},
      actionsByKind: {},
      checkout: null,
      byWorkflowType: {},
    },
    windowSeconds: 30,
    otherProcessesCores: 0.2,
    clockStartedAt: 1_000_000,
    phases: [{ name: 'mixed sale', from: 10, to: 40 }],
    samples: [{ t: 11, components: {}, machineBusyPercent: 90 }],
  };
}

describe('the mixed sale in the report', () => {
  test('when the mixed sale sold 100 tickets in 30 s, then its figure sits beside the instant one with p95 by method', () => {
    const run = ownStackSale({ paidMsByKind: { card: [100, 200], '3ds': [900], crypto: [700] } });
    const report = mixedSaleReport(run, 400);
    expect(report.slot).toMatchObject({
      ticketsPerMinute: 200,
      checkoutsPerMinute: 200,
      paidP95MsByKind: { card: 200, '3ds': 900, crypto: 700 },
    });
    expect(report.json).toEqual({ mixedOversold: 0, mixedInvariantsOk: true });
    expect(report.slot.lines.join('\n')).toContain('tickets/minute         200 (instant-only 400)');
    expect(report.ok).toBe(true);
  });

  test('when a paid order went missing from the books, then the mixed sale is not ok', () => {
    const run = { ...ownStackSale(), lostOrders: ['ord_7'] };
    const report = mixedSaleReport(run, 400);
    expect(report.ok).toBe(false);
    expect(report.json.mixedInvariantsOk).toBe(false);
    expect(report.slot.lines.join('\n')).toContain('1 orders shown PAID are not PAID in the books');
  });
});

describe('the scale-out check in the report', () => {
  const one: SaleCost = {
    paidCheckouts: 100,
    windowSeconds: 30,
    cpuSeconds: { temporal: 10, postgres: 2, worker: 8, api: 2, bench: 1 },
    historyEventsPerOrder: 20,
  };

  test('when two of each cost as much per order as one of each, then scaleOutRatio is 1 and the audit is ok', () => {
    const two = ownStackSale({}, { temporal: 10, postgres: 2, worker: 4, 'worker-2': 4, api: 1, 'api-2': 1 });
    const report = scaleOutReport(one, two, 0.1);
    expect(report.slot).toMatchObject({ ratio: 1, workers: 2, apis: 2, ticketsPerMinute: 200 });
    expect(report.json).toEqual({
      scaleOutOversold: 0,
      scaleOutLostOrders: 0,
      scaleOutInvariantsOk: true,
    });
    expect(report.details.cpuMsPerOrder.two).toEqual({ temporal: 100, postgres: 20, worker: 80, api: 20 });
  });

  test('when the scale-out sale oversold, then the check is not ok and says why', () => {
    const two = ownStackSale({}, { temporal: 10, worker: 10 });
    two.invariants = { ...two.invariants, ok: false, oversold: 2, problems: ['oversold by 2'] };
    const report = scaleOutReport(one, two, 0.1);
    expect(report.ok).toBe(false);
    expect(report.json.scaleOutOversold).toBe(2);
    expect(report.slot.lines.join('\n')).toContain('oversold by 2');
  });
});

describe('the sizing input and the shared chart', () => {
  test('when the instant sale is measured, then the model gets its CPU, events and Postgres writes per order', () => {
    const figures = perOrderFigures(
      {
        ticketsPerMinute: 200,
        otherProcessesCores: 0,
        cost: {
          paidCheckouts: 100,
          windowSeconds: 30,
          cpuSeconds: { temporal: 10, postgres: 2, worker: 8, api: 2, bench: 1, 'baseline-worker': 1 },
          historyEventsPerOrder: 20,
        },
        actionsPerOrder: 9,
        postgresWrites: {
          before: { nextTransactionId: 1_000, rowWrites: 5_000 },
          after: { nextTransactionId: 1_800, rowWrites: 7_500 },
        },
        clockStartedAt: 0,
      },
      1,
    );
    expect(figures).toEqual({
      ticketsPerOrder: 1,
      historyEventsPerOrder: 20,
      actionsPerOrder: 9,
      cpuMsPerOrder: { temporal: 100, postgres: 20, worker: 80, api: 20 },
      postgresCommitsPerOrder: 8,
      postgresRowWritesPerOrder: 25,
    });
  });

  test("when a stack's clock started 60 s after the chart's, then its phases, requests and samples move 60 s on", () => {
    const run = ownStackSale();
    const placed = onTimelineOf(run.clockStartedAt - 60_000, run);
    expect(placed.phases).toEqual([{ name: 'mixed sale', from: 70, to: 100 }]);
    expect(placed.requests[0]!.end).toBe(72);
    expect(placed.samples[0]!.t).toBe(71);
  });
});

describe("other people's load during a sale", () => {
  test('when the machine was 75% busy on 2 cores and our processes used one core, then others used half a core', () => {
    const sample = (t: number) => ({
      t,
      machineBusyPercent: 75,
      components: { worker: { rssMb: 500, cpuPercent: 60 }, api: { rssMb: 100, cpuPercent: 40 } },
    });
    // The sample at t=5 is outside the sale (10-40 s) and does not count.
    const samples = [{ ...sample(5), machineBusyPercent: 100 }, sample(11), sample(12)];
    expect(otherProcessesCores(samples, 10, 40, 2)).toBe(0.5);
  });
});

describe('what the later phases take from the instant sale', () => {
  test('when the instant sale sold out after 25 s, then its rate, cost and clock are read over that window', () => {
    const run = ownStackSale({ from: 10, to: 40, soldOut: 5, lastPaidAt: 35, tickets: 100 }, { worker: 8 });
    const sample = { t: 20, machineBusyPercent: 100, components: { worker: { rssMb: 1, cpuPercent: 150 } } };
    const writes = {
      before: { nextTransactionId: 1, rowWrites: 1 },
      after: { nextTransactionId: 2, rowWrites: 2 },
    };
    const before = Date.now();
    const instant = instantSale(
      { samples: [sample], since: () => 60 },
      { measured: run.sale, orderCost: run.perOrder },
      writes,
    );
    expect(instant).toMatchObject({
      ticketsPerMinute: 240,
      cost: { paidCheckouts: 100, windowSeconds: 25, cpuSeconds: { worker: 8 }, historyEventsPerOrder: 20 },
      actionsPerOrder: 9,
      postgresWrites: writes,
    });
    expect(instant.otherProcessesCores).toBeCloseTo(0.5, 1);
    expect(instant.clockStartedAt).toBeGreaterThanOrEqual(before - 60_000);
    expect(instant.clockStartedAt).toBeLessThanOrEqual(Date.now() - 60_000);
  });
});
