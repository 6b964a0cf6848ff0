// The crash suite's audit (scripts/chaos.ts, phase 5): the books (chaos-books.ts), whether the run walked every
// path it is there to prove, and how each journey's orders ended, as one verdict. `--sabotage` breaks the books
// first, to see the checks catch it.
import type { Client } from '@temporalio/client';
import type { Db } from '../db';
import { checkBooks } from './chaos-books';
import type { ChaosCatalogue, Outcome } from './chaos-buyers';
import { log } from './chaos-stack';

/**
 * `--sabotage`: what the checks must catch, done by SQL after the run: the small type's sold counter one below its
 * tickets (a seat sold twice; Postgres's CHECK refuses a counter above capacity, so this is how an oversell would
 * show), and one order a buyer was told is PAID made EXPIRED.
 */
export async function sabotage(db: Db, catalogue: ChaosCatalogue, outcomes: Outcome[]): Promise<void> {
  log('sabotage: a seat counted once for two tickets and a paid order expired, by SQL');
  await db('ticket_types')
    .where({ id: catalogue.smallTypeId })
    .update({ sold: db.raw('sold - 1') });
  const told = outcomes.find((o) => o.toldStatus === 'PAID' && o.journey === 'card');
  if (told) await db('orders').where({ id: told.orderId }).update({ status: 'EXPIRED' });
}

/** Every finding of the run, one line each: the API's deaths, the books, and paths the run never reached. */
export async function audit(input: {
  db: Db;
  client: Client;
  catalogue: ChaosCatalogue;
  outcomes: Outcome[];
  chargesCaughtInFlight: string[];
  apiDeaths: number;
  dataDir: string;
}): Promise<string[]> {
  const { db, client, catalogue, outcomes } = input;
  return [
    ...(input.apiDeaths > 0 ? [`the API died ${input.apiDeaths} time(s) (see ${input.dataDir}/api.log)`] : []),
    ...(await checkBooks(db, client, catalogue, outcomes, input.chargesCaughtInFlight)),
    ...(await checkCoverage(db, catalogue, outcomes)),
  ];
}

/** The paths the issue asks the suite to reach; a run that missed one proves nothing about it, so it fails. */
async function checkCoverage(db: Db, catalogue: ChaosCatalogue, outcomes: Outcome[]): Promise<string[]> {
  const problems: string[] = [];
  const ended = async (journey: string, status: string) => {
    const ids = outcomes.filter((o) => o.journey === journey && o.orderId).map((o) => o.orderId!);
    return Number((await db('orders').whereIn('id', ids).where({ status }).count({ n: '*' }).first())?.n);
  };
  const soldOut = outcomes.some((o) => o.checkout.status === 409);
  const small = await db('ticket_types').where({ id: catalogue.smallTypeId }).first('sold', 'capacity');
  if (!soldOut)
    problems.push(`coverage: no buyer was told sold-out (small type sold ${small?.sold}/${small?.capacity})`);
  for (const [journey, status] of [
    ['3ds-passed', 'PAID'],
    ['crypto-confirmed', 'PAID'],
    ['crypto-late', 'PAID'],
    ['card-refunded', 'REFUNDED'],
  ] as const) {
    if ((await ended(journey, status)) === 0) problems.push(`coverage: no ${journey} order ended ${status}`);
  }
  return problems;
}

/** For the summary: how each journey's orders ended. */
export async function journeySummary(
  db: Db,
  outcomes: Outcome[],
): Promise<Record<string, Record<string, number>>> {
  const summary: Record<string, Record<string, number>> = {};
  const statuses = new Map<string, string>(
    (
      await db('orders').whereIn(
        'id',
        outcomes.flatMap((o) => (o.orderId ? [o.orderId] : [])),
      )
    ).map((r) => [r.id, r.status]),
  );
  for (const o of outcomes) {
    const end = o.orderId ? (statuses.get(o.orderId) ?? 'MISSING') : `HTTP ${o.checkout.status ?? 'none'}`;
    const counts = (summary[o.journey] ??= {});
    counts[end] = (counts[end] ?? 0) + 1;
  }
  return summary;
}
