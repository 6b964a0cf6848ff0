// `npm run test:chaos`: the crash suite. Buyers walk every money path through the real API (cards paid, declined
// and refunded; 3-D Secure passed, failed and abandoned; crypto confirmed, late and failed; a burst of buyers racing
// for a small ticket type until it sells out) while the worker is killed with SIGKILL again and again (some of
// those kills between a card charge and the activity's completion), the Temporal dev server is killed and
// restarted on its SQLite file, and Postgres is stopped for a while. Then the books are checked (chaos-books.ts):
// ledger_invariant_violations(), no seat oversold, no order lost, one charge per paid order, every refund done,
// and every buyer got an answer that the books bear out. Any finding, or an API process that died, fails the run
// with exit code 1.
//
// It brings up its own stack (data in .data/chaos, ports 5599/7399/8399/3199, metrics 9497-9499), so `npm start` and `npm run bench`
// can run beside it. `--profile full` (the default, before a release) takes about five minutes; `--profile ci`,
// which `.ci/run` runs after `npm test`, about two and a half on two cores.
//
// The phases, each in a file of its own, in the order `main()` runs them:
//   0. options        this file: the profile and the command line
//   1. stack          chaos-stack.ts: Postgres, Temporal, a supervised worker and API; 2. the catalogue
//   3. buyers, faults chaos-buyers.ts (the journeys) and chaos-faults.ts (the kills and outages), at once
//   4. settle         chaos-settle.ts: every order, refund and workflow reaches its end
//   5. audit          chaos-audit.ts and chaos-books.ts: the books, coverage of every path, the verdict
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { platformDataConverter } from '../temporal/payload-codec';
import { createBuyers } from './chaos-buyers';
import { cleanUp, log, seedCatalogue, startStack } from './chaos-stack';
import { buyUnderFaults } from './chaos-faults';
import { settle } from './chaos-settle';
import { audit, journeySummary, sabotage } from './chaos-audit';

/** How hard a run pushes: `full` before a release, `ci` on every CI run (a few minutes on two cores). */
const PROFILES = {
  full: {
    duration: 150,
    kills: 12,
    concurrency: 4,
    postgresOutageSeconds: 20,
    smallCapacity: 40,
    settleSeconds: 120,
  },
  ci: { duration: 60, kills: 3, concurrency: 3, postgresOutageSeconds: 8, smallCapacity: 15, settleSeconds: 90 },
} as const;
type Profile = (typeof PROFILES)[keyof typeof PROFILES];

/** A small deterministic PRNG (mulberry32), so a failing run can be repeated with its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function main(): Promise<void> {
  process.once('SIGINT', () => void cleanUp().then(() => process.exit(130)));
  const run = readOptions();
  const random = prng(run.seed);
  log(
    `seed ${run.seed}, profile ${run.profileName}: ${run.duration}s of buyers at concurrency ${run.concurrency}, ` +
      `${run.kills} worker kills, Postgres down ${run.postgresOutageSeconds}s`,
  );

  const stack = await startStack(run, random);
  const catalogue = await seedCatalogue(stack.db, run.seed, run.smallCapacity);
  const buyers = createBuyers({ config: stack.config, catalogue, seed: run.seed, random, patienceMs: 60_000 });

  const { chargesCaughtInFlight } = await buyUnderFaults(run, stack, buyers, random);
  log(`stream over: ${buyers.outcomes.length} buyers; settling`);
  const connection = await Connection.connect({ address: stack.temporalAddress() });
  const client = new Client({
    connection,
    namespace: stack.config.TEMPORAL_NAMESPACE,
    dataConverter: platformDataConverter(stack.config),
  });
  await settle(stack, client, catalogue.eventId, run.settleSeconds);
  if (run.sabotage) await sabotage(stack.db, catalogue, buyers.outcomes);

  const problems = await audit({
    db: stack.db,
    client,
    catalogue,
    outcomes: buyers.outcomes,
    chargesCaughtInFlight,
    apiDeaths: stack.api.deaths(),
    dataDir: stack.dataDir,
  });
  const summary = {
    seed: run.seed,
    profile: run.profileName,
    buyers: buyers.outcomes.length,
    journeys: await journeySummary(stack.db, buyers.outcomes),
    retries: buyers.outcomes.reduce((a, o) => a + Math.max(0, o.checkout.attempts - 1), 0),
    workerKills: stack.worker.kills(),
    workerDeaths: stack.worker.deaths(),
    apiDeaths: stack.api.deaths(),
    chargesCaughtInFlight: chargesCaughtInFlight.length,
    temporal: stack.cluster ? 'cluster: history and matching killed' : 'dev server: killed and restarted',
    postgresOutageSeconds: run.postgresOutageSeconds,
    problems,
    ok: problems.length === 0,
  };
  log(problems.length === 0 ? 'the books balance' : `PROBLEMS:\n  ${problems.join('\n  ')}`);

  // Every buyer's journey and answers, for reading a failed run (the seed repeats it).
  writeFileSync(join(stack.dataDir, 'outcomes.json'), JSON.stringify(buyers.outcomes, null, 1));
  await connection.close();
  await stack.db.destroy();
  await cleanUp();
  console.log(JSON.stringify(summary));
  process.exit(summary.ok ? 0 : 1);
}

/** Phase 0: the command line; a profile gives the defaults and each option may override one. */
function readOptions() {
  const { values } = parseArgs({
    options: {
      profile: { type: 'string', default: 'full' },
      duration: { type: 'string' },
      kills: { type: 'string' },
      concurrency: { type: 'string' },
      seed: { type: 'string' },
      // `cluster`: on a Temporal cluster on Postgres, killing its history and matching services (chaos-cluster.ts).
      temporal: { type: 'string', default: 'dev' },
      // Breaks the books by SQL after the run, to see the checks fail it (a check that never fails proves nothing).
      sabotage: { type: 'boolean', default: false },
    },
  });
  const profileName = values.profile as keyof typeof PROFILES;
  const profile: Profile = PROFILES[profileName];
  if (!profile) throw new Error(`--profile must be one of ${Object.keys(PROFILES).join(', ')}`);
  return {
    ...profile,
    profileName,
    duration: values.duration ? Number(values.duration) : profile.duration,
    kills: values.kills ? Number(values.kills) : profile.kills,
    concurrency: values.concurrency ? Number(values.concurrency) : profile.concurrency,
    seed: values.seed ? Number(values.seed) : randomBytes(4).readUInt32BE(),
    cluster: values.temporal === 'cluster',
    sabotage: values.sabotage,
  };
}

main().catch(async (err) => {
  console.error('[chaos] failed:', err);
  await cleanUp();
  process.exit(1);
});
