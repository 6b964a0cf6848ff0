// The crash suite's faults (scripts/chaos.ts, phase 3), injected while the buyers (chaos-buyers.ts) shop: worker
// kills spread over the run (every third one between a card charge and its activity's completion), Temporal down
// once (the dev server, or the cluster's history and matching services: chaos-cluster.ts), Postgres once, and a
// burst of buyers racing for the small ticket type.
import pg from 'pg';
import { clusterFaults, type ClusterFault } from './chaos-cluster';
import type { createBuyers } from './chaos-buyers';
import { log, sleep, type Stack } from './chaos-stack';

/** How the faults are timed and sized; the suite's profile (chaos.ts) gives these. */
export interface FaultPlan {
  /** Seconds the buyers keep coming. */
  duration: number;
  /** Worker kills over the run. */
  kills: number;
  /** Buyers at once in the stream. */
  concurrency: number;
  postgresOutageSeconds: number;
  smallCapacity: number;
}

/**
 * Holds a lock that the payment record's INSERT waits on: a worker stuck there has charged the card and not yet
 * told Temporal. Kills it then; the retry must find the same PaymentIntent, not make another. The orders caught
 * so are added to `caught`, for the audit to check they have exactly one PaymentIntent.
 */
async function killBetweenChargeAndCompletion(stack: Stack, caught: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: stack.postgresUrl() });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('LOCK TABLE payments IN SHARE MODE');
    const lockedAt = (await client.query('SELECT clock_timestamp() AS t')).rows[0].t as Date;
    const until = Date.now() + 10_000;
    let waiting = 0;
    while (waiting === 0 && Date.now() < until) {
      await sleep(20);
      const { rows } = await client.query(
        `SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'payments'::regclass AND NOT granted`,
      );
      waiting = rows[0].n;
    }
    if (waiting === 0) {
      log('  no charge reached the payment record within 10 s; killed anyway');
      return await stack.worker.kill();
    }
    const { rows } = await client.query(
      // Charged at the provider and not yet recorded: charges made while the record was locked out, and
      // recent ones whose record is not there yet (the blocked INSERT is not committed, so it is not seen).
      `SELECT i.order_id FROM sandbox_card_intents i
        WHERE i.created_at >= $1
           OR (i.created_at > $1::timestamptz - interval '30 seconds'
               AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = i.order_id))`,
      [lockedAt],
    );
    caught.push(...rows.map((r) => r.order_id as string));
    await stack.worker.kill();
    log(`  killed with ${waiting} payment record(s) waiting; ${rows.length} card charge(s) not yet recorded`);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

/** The run's faults, at seconds from the start, in the order they happen. */
function scheduleFaults(
  plan: FaultPlan,
  stack: Stack,
  soldOutBurst: () => Promise<void>,
  random: () => number,
  caught: string[],
): ClusterFault[] {
  const { duration } = plan;
  const killTimes = Array.from({ length: plan.kills }, () => 5 + random() * (duration - 15)).sort((a, b) => a - b);
  return [
    ...killTimes.map((at, i) =>
      i % 3 === 1
        ? {
            at,
            name: 'kill -9 worker between a charge and its completion',
            run: () => killBetweenChargeAndCompletion(stack, caught),
          }
        : { at, name: 'kill -9 worker', run: stack.worker.kill },
    ),
    ...(stack.cluster
      ? clusterFaults(stack.cluster, duration)
      : [{ at: duration * 0.4, name: 'kill -9 and restart the Temporal dev server', run: stack.restartTemporal }]),
    {
      at: duration * 0.7,
      name: `stop Postgres for ${plan.postgresOutageSeconds} s`,
      run: () => stack.stopPostgres(plan.postgresOutageSeconds * 1000),
    },
    { at: duration * 0.3, name: `sold-out race: ${plan.smallCapacity} buyers at once`, run: soldOutBurst },
  ].sort((a, b) => a.at - b.at);
}

/**
 * The buyers and the faults at once; resolves when the stream is over and every fault has been injected. Returns
 * the orders whose card was charged when their worker was killed (killBetweenChargeAndCompletion).
 */
export async function buyUnderFaults(
  plan: FaultPlan,
  stack: Stack,
  buyers: ReturnType<typeof createBuyers>,
  random: () => number,
): Promise<{ chargesCaughtInFlight: string[] }> {
  const chargesCaughtInFlight: string[] = [];
  const faults = scheduleFaults(plan, stack, buyers.soldOutBurst, random, chargesCaughtInFlight);
  const started = Date.now();
  const monkey = (async () => {
    const running: Array<Promise<void>> = [];
    for (const fault of faults) {
      const wait = started + fault.at * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      log(fault.name);
      // The burst runs beside the faults; a fault that cannot even be injected is said, not a finding.
      const done = fault.run().catch((err) => log(`  could not ${fault.name}: ${(err as Error).message}`));
      if (fault.run === buyers.soldOutBurst) running.push(done);
      else await done;
    }
    await Promise.all(running);
  })();
  await Promise.all([buyers.stream(started + plan.duration * 1000, plan.concurrency), monkey]);
  return { chargesCaughtInFlight };
}
