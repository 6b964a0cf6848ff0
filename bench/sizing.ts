// Sizing past this box (issue 12): from what one order costs, measured by the bench, what a deployment needs to
// sell 10,000 tickets a minute. A pure model: per-order figures in, a deployment out, every assumption a named
// constant below with the reason for its value. bench/README.md ("Sizing past this box") explains it.
//
// The model is linear: a deployment doing R orders a second pays R times what one order costs, on every
// component, and keeps each component at most half busy. That is what the scale-out check (two workers and two
// APIs on this box, `scaleOutRatio`) tests: if per-order figures hold with two processes each, they add up.

/** What one paid order cost in a bench run, per component; the model's whole input. */
export interface PerOrderFigures {
  /** Tickets per order in the run the figures come from. */
  ticketsPerOrder: number;
  /** History events of every workflow the order started (the checkout and any children). */
  historyEventsPerOrder: number;
  /** Temporal Cloud billable actions per order, when the run counted them. */
  actionsPerOrder?: number;
  /**
   * CPU milliseconds per order by component, as the bench names them: `temporal` for the dev server (one
   * process), or `temporal-frontend`, `temporal-history`, `temporal-matching` for a cluster run.
   */
  cpuMsPerOrder: Partial<Record<TemporalComponent | 'temporal', number>> & {
    worker: number;
    api: number;
    postgres: number;
  };
  /** Write transactions in Postgres per order (postgres-writes.ts: read-only ones are not counted). */
  postgresCommitsPerOrder: number;
  /** Rows inserted, updated or deleted in the platform's database per order (pg_stat_database tup_*). */
  postgresRowWritesPerOrder: number;
}

/** The Temporal services a cluster runs apart and scales apart. */
export type TemporalComponent = 'temporal-frontend' | 'temporal-history' | 'temporal-matching';

/** What the deployment must sell. */
export interface SalesTarget {
  ticketsPerMinute: number;
  ticketsPerOrder: number;
}

/** The issue's target: 10,000 tickets a minute, at one and at four tickets per order. */
export const ISSUE_TARGETS: readonly SalesTarget[] = [
  { ticketsPerMinute: 10_000, ticketsPerOrder: 1 },
  { ticketsPerMinute: 10_000, ticketsPerOrder: 4 },
];

/**
 * Every component runs at most this busy at the target rate. Half: a flash sale's first seconds are burstier than
 * its average minute, a replica must be able to fail or be redeployed mid-sale with the others taking its load,
 * and on a shared 2-core box our per-order figures have a run-to-run spread of about ±20% (bench/README.md).
 */
export const TARGET_UTILIZATION = 0.5;

/**
 * A history shard applies its updates one at a time (Temporal docs, "What is a History Shard?": one concurrent
 * operation per persistence partition; `history.shardIOConcurrency` defaults to 1), so its ceiling is one over the
 * latency of a persistence update. 10 ms is the example Temporal's own shard-count study uses ("if a single
 * database update takes 10 ms, then a single shard can do a maximum of 100 updates per second", M. Shilkov,
 * "Choosing the Number of Shards in Temporal History Service", 2021); a networked Postgres commit is 2-10 ms.
 */
export const SHARD_UPDATE_MS = 10;

/**
 * History events written per shard update. A workflow's events are written in small batches, one per state
 * transition: a workflow task's completion with the commands it schedules, an activity's result with the workflow
 * task it wakes. The checkout histories in test/histories have 2.2-3.9 events per batch (a batch: a run of
 * consecutive task ids); two is the cautious end.
 */
export const EVENTS_PER_SHARD_UPDATE = 2;

/** History events a shard can take per second at the target utilization (100 × 2 × 0.5 = 100). */
export const SHARD_EVENTS_PER_SECOND = (1000 / SHARD_UPDATE_MS) * EVENTS_PER_SHARD_UPDATE * TARGET_UTILIZATION;

/**
 * The shard count is set when the cluster is created and can never change (Temporal docs, "What is a History
 * Shard?"), so it is sized for growth: four times today's need, then rounded up to a power of two (the usual
 * choice, and what lets a cluster replicate to a larger one later: shard counts must be multiples of each other).
 * Not more: every shard costs history-service memory and slows failover, since a new owner loads each one.
 */
export const SHARD_GROWTH_FACTOR = 4;

/**
 * CPU of each cluster service per CPU of the dev server, for the same checkouts: the bench's back-to-back runs
 * `--temporal cluster` (20261202T064733: history 148, frontend 44.5, matching 44.3 ms per checkout) and dev server
 * (20261202T065217: 154.2 ms) on 2026-12-02. A cluster does the dev server's work in history and adds the
 * frontend and matching hops on top. Used when the figures come from a dev-server run.
 */
export const CLUSTER_CPU_PER_DEV_SERVER_CPU: Readonly<Record<TemporalComponent, number>> = {
  'temporal-history': 148 / 154.2,
  'temporal-frontend': 44.5 / 154.2,
  'temporal-matching': 44.3 / 154.2,
};

/**
 * Cores one worker or API process uses at most. Node runs our code on one event loop; the Temporal SDK's workflow
 * threads and its Rust core use a little more, which the utilization target covers. So: one process per core.
 */
export const CORES_PER_NODE_PROCESS = 1;

/** At least two of everything that serves buyers, so one can fail or be redeployed during a sale. */
export const MIN_REPLICAS = 2;

/**
 * The per-order cost does not depend on tickets per order, except the rows written for the extra tickets. The
 * checkout's shape is the same for one ticket or four (one hold, one charge, one issuance step): the bench's
 * `--quantity 4` run sold 1,876 tickets/min, 469 orders/min, as many orders as the runs at one ticket (451-506).
 * Each extra ticket is one more ticket row, written in the same issuance transaction.
 */
export const ROW_WRITES_PER_EXTRA_TICKET = 1;

/** What a deployment needs for one target. */
export interface DeploymentSize {
  target: SalesTarget;
  ordersPerSecond: number;
  historyEventsPerSecond: number;
  /** Temporal Cloud actions a second (null when the run did not count actions). */
  actionsPerSecond: number | null;
  historyShards: {
    /** Shards the target needs at the target utilization. */
    needed: number;
    /** What to configure: the need with room to grow, as a power of two. */
    configured: number;
  };
  /** Cores for each Temporal service, at the target utilization. */
  temporalCores: Record<TemporalComponent, number>;
  workerProcesses: number;
  apiReplicas: number;
  /** Cores for the platform's Postgres (Temporal's own persistence is apart). */
  postgresCores: number;
  postgresCommitsPerSecond: number;
  postgresRowWritesPerSecond: number;
}

const TEMPORAL_COMPONENTS = Object.keys(CLUSTER_CPU_PER_DEV_SERVER_CPU) as TemporalComponent[];
const roundUp = (n: number, step = 1) => Math.ceil(n / step - 1e-9) * step;
const oneDecimal = (n: number) => Math.round(n * 10) / 10;
const nextPowerOfTwo = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/** CPU ms per order of each Temporal service: measured on a cluster, or the dev server's figure split. */
export function temporalCpuMsPerOrder(cpu: PerOrderFigures['cpuMsPerOrder']): Record<TemporalComponent, number> {
  const measuredApart = TEMPORAL_COMPONENTS.some((c) => cpu[c] !== undefined);
  return Object.fromEntries(
    TEMPORAL_COMPONENTS.map((c) => [
      c,
      measuredApart ? (cpu[c] ?? 0) : (cpu.temporal ?? 0) * CLUSTER_CPU_PER_DEV_SERVER_CPU[c],
    ]),
  ) as Record<TemporalComponent, number>;
}

/** The deployment `target` needs, if every order costs what `measured` says. */
export function sizeDeployment(measured: PerOrderFigures, target: SalesTarget): DeploymentSize {
  const ordersPerSecond = target.ticketsPerMinute / target.ticketsPerOrder / 60;
  /** Cores that `cpuMsPerOrder` of CPU per order needs at the target rate and utilization. */
  const cores = (cpuMsPerOrder: number) => (ordersPerSecond * cpuMsPerOrder) / 1000 / TARGET_UTILIZATION;
  const processes = (cpuMsPerOrder: number) =>
    Math.max(MIN_REPLICAS, roundUp(cores(cpuMsPerOrder) / CORES_PER_NODE_PROCESS));
  const historyEventsPerSecond = ordersPerSecond * measured.historyEventsPerOrder;
  const neededShards = roundUp(historyEventsPerSecond / SHARD_EVENTS_PER_SECOND);
  const extraTickets = Math.max(0, target.ticketsPerOrder - measured.ticketsPerOrder);
  const temporalCpu = temporalCpuMsPerOrder(measured.cpuMsPerOrder);
  return {
    target,
    ordersPerSecond: oneDecimal(ordersPerSecond),
    historyEventsPerSecond: Math.round(historyEventsPerSecond),
    actionsPerSecond:
      measured.actionsPerOrder === undefined ? null : Math.round(ordersPerSecond * measured.actionsPerOrder),
    historyShards: { needed: neededShards, configured: nextPowerOfTwo(neededShards * SHARD_GROWTH_FACTOR) },
    temporalCores: Object.fromEntries(
      TEMPORAL_COMPONENTS.map((c) => [c, roundUp(cores(temporalCpu[c]), 0.5)]),
    ) as Record<TemporalComponent, number>,
    workerProcesses: processes(measured.cpuMsPerOrder.worker),
    apiReplicas: processes(measured.cpuMsPerOrder.api),
    postgresCores: roundUp(cores(measured.cpuMsPerOrder.postgres), 0.5),
    postgresCommitsPerSecond: Math.round(ordersPerSecond * measured.postgresCommitsPerOrder),
    postgresRowWritesPerSecond: Math.round(
      ordersPerSecond * (measured.postgresRowWritesPerOrder + extraTickets * ROW_WRITES_PER_EXTRA_TICKET),
    ),
  };
}

/** The sizing section of the bench's summary: one line per figure, one column per target. */
export function formatSizing(measured: PerOrderFigures, sizes: DeploymentSize[]): string {
  const rows: Array<[string, (s: DeploymentSize) => string | number]> = [
    ['orders/s', (s) => s.ordersPerSecond],
    ['history events/s', (s) => s.historyEventsPerSecond],
    ['actions/s', (s) => s.actionsPerSecond ?? 'not counted'],
    ['history shards', (s) => `${s.historyShards.configured} (needs ${s.historyShards.needed})`],
    ['frontend cores', (s) => s.temporalCores['temporal-frontend']],
    ['history cores', (s) => s.temporalCores['temporal-history']],
    ['matching cores', (s) => s.temporalCores['temporal-matching']],
    ['worker processes', (s) => s.workerProcesses],
    ['API replicas', (s) => s.apiReplicas],
    ['Postgres cores', (s) => s.postgresCores],
    ['Postgres write transactions/s', (s) => s.postgresCommitsPerSecond],
    ['Postgres row writes/s', (s) => s.postgresRowWritesPerSecond],
  ];
  const header = sizes.map((s) => `${s.target.ticketsPerMinute} tickets/min @${s.target.ticketsPerOrder}`);
  const width = Math.max(...header.map((h) => h.length)) + 2;
  const cpu = measured.cpuMsPerOrder;
  return [
    `Sizing past this box (bench/sizing.ts; components at most ${TARGET_UTILIZATION * 100}% busy, ` +
      `${SHARD_EVENTS_PER_SECOND} history events/s per shard)`,
    `  from per order                 ${measured.historyEventsPerOrder} events, ${measured.actionsPerOrder ?? '?'} actions, CPU ms ` +
      Object.entries(cpu)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') +
      `; Postgres ${measured.postgresCommitsPerOrder} write transactions, ${measured.postgresRowWritesPerOrder} row writes`,
    `  ${''.padEnd(30)} ${header.map((h) => h.padStart(width)).join('')}`,
    ...rows.map(
      ([name, value]) => `  ${name.padEnd(30)} ${sizes.map((s) => String(value(s)).padStart(width)).join('')}`,
    ),
  ].join('\n');
}

/** The sizing part of the bench's report: both issue targets, as text for the summary and as figures for the file. */
export function sizingReport(measured: PerOrderFigures) {
  const sizes = ISSUE_TARGETS.map((target) => sizeDeployment(measured, target));
  return { details: { measured, sizes }, text: formatSizing(measured, sizes) };
}
