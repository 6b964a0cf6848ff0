import {
  CLUSTER_CPU_PER_DEV_SERVER_CPU,
  formatSizing,
  ISSUE_TARGETS,
  MIN_REPLICAS,
  SHARD_EVENTS_PER_SECOND,
  sizeDeployment,
  temporalCpuMsPerOrder,
  type PerOrderFigures,
} from '../bench/sizing';

/** Round figures, so every expected value below can be worked out by hand. */
const measured: PerOrderFigures = {
  ticketsPerOrder: 1,
  historyEventsPerOrder: 20,
  actionsPerOrder: 10,
  cpuMsPerOrder: {
    'temporal-frontend': 6,
    'temporal-history': 12,
    'temporal-matching': 3,
    worker: 30,
    api: 3,
    postgres: 9,
  },
  postgresCommitsPerOrder: 8,
  postgresRowWritesPerOrder: 25,
};
const at = (ticketsPerOrder: number) => ({ ticketsPerMinute: 6_000, ticketsPerOrder });

describe('sizing a deployment from per-order figures', () => {
  test('when 6,000 tickets a minute sell one per order, then every rate is 100 orders a second times the per-order figure', () => {
    const size = sizeDeployment(measured, at(1));
    expect(size.ordersPerSecond).toBe(100);
    expect(size.historyEventsPerSecond).toBe(2_000);
    expect(size.actionsPerSecond).toBe(1_000);
    expect(size.postgresCommitsPerSecond).toBe(800);
    expect(size.postgresRowWritesPerSecond).toBe(2_500);
  });

  test('when CPU per order is given, then cores are that CPU at the target rate with each component half busy', () => {
    const size = sizeDeployment(measured, at(1));
    // 100 orders/s × 12 ms = 1.2 cores busy, so 2.4 at half utilization, rounded up to half a core.
    expect(size.temporalCores).toEqual({
      'temporal-history': 2.5,
      'temporal-frontend': 1.5,
      'temporal-matching': 1,
    });
    expect(size.workerProcesses).toBe(6); // 3 cores busy → 6 one-core processes
    expect(size.postgresCores).toBe(2);
  });

  test('when a component needs less than one process, then it still gets the minimum number of replicas', () => {
    // 100 × 3 ms = 0.3 cores busy, 0.6 at half: one process would do, but one cannot fail over.
    expect(sizeDeployment(measured, at(1)).apiReplicas).toBe(MIN_REPLICAS);
  });

  test('when history events are known, then shards cover them at the per-shard rate with room to grow, as a power of two', () => {
    const size = sizeDeployment(measured, at(1));
    expect(size.historyShards.needed).toBe(Math.ceil(2_000 / SHARD_EVENTS_PER_SECOND));
    expect(size.historyShards.configured).toBeGreaterThanOrEqual(size.historyShards.needed * 4);
    expect(Math.log2(size.historyShards.configured) % 1).toBe(0);
    expect(size.historyShards.configured).toBeLessThan(size.historyShards.needed * 8);
  });

  test('when the same tickets sell four per order, then a quarter of the orders cost a quarter, plus a row per extra ticket', () => {
    const one = sizeDeployment(measured, at(1));
    const four = sizeDeployment(measured, at(4));
    expect(four.ordersPerSecond).toBe(25);
    expect(four.historyEventsPerSecond).toBe(one.historyEventsPerSecond / 4);
    expect(four.postgresCommitsPerSecond).toBe(200);
    expect(four.postgresRowWritesPerSecond).toBe(25 * (25 + 3));
    expect(four.workerProcesses).toBeLessThan(one.workerProcesses);
  });

  test('when the figures come from the dev server, then its Temporal CPU is split into the cluster services', () => {
    const devServer = { ...measured.cpuMsPerOrder, temporal: 100 } as PerOrderFigures['cpuMsPerOrder'];
    delete devServer['temporal-frontend'];
    delete devServer['temporal-history'];
    delete devServer['temporal-matching'];
    const split = temporalCpuMsPerOrder(devServer);
    expect(split['temporal-history']).toBeCloseTo(100 * CLUSTER_CPU_PER_DEV_SERVER_CPU['temporal-history']);
    expect(split['temporal-frontend']).toBeCloseTo(100 * CLUSTER_CPU_PER_DEV_SERVER_CPU['temporal-frontend']);
    // A cluster costs more than the dev server for the same work: the frontend and matching hops come on top.
    expect(Object.values(split).reduce((a, b) => a + b, 0)).toBeGreaterThan(100);
  });

  test('when the figures come from a cluster, then each service is sized from its own measured CPU', () => {
    expect(temporalCpuMsPerOrder(measured.cpuMsPerOrder)).toEqual({
      'temporal-history': 12,
      'temporal-frontend': 6,
      'temporal-matching': 3,
    });
  });
});

describe('printing the sizing', () => {
  test('when the issue targets are sized, then one column per target shows every figure the issue asks for', () => {
    const text = formatSizing(
      measured,
      ISSUE_TARGETS.map((t) => sizeDeployment(measured, t)),
    );
    expect(text).toContain('10000 tickets/min @1');
    expect(text).toContain('10000 tickets/min @4');
    for (const figure of [
      'history shards',
      'frontend cores',
      'history cores',
      'matching cores',
      'worker processes',
      'API replicas',
      'Postgres row writes/s',
    ])
      expect(text).toMatch(new RegExp(`\\n  ${figure} +\\S`));
  });
});
