// Catalogue reads during the sale: buyers refreshing the event page while others buy. The load comes from
// bench/catalogue-load.ts (autocannon, a process of its own); a probe here compares what the page shows with
// what Postgres holds, to measure how stale availability gets and whether sold-out seats are ever shown.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../db';
import { spawnTs, stopChild } from './processes';

/** What the catalogue phase measured; `soldOutShownAvailable` must be 0. */
export interface CatalogueReads {
  readsPerSecond: number;
  /** The most the page's availability lagged the database, in ms (to the probe's 50 ms resolution). */
  staleMsMax: number;
  /** Probes that saw seats on the page more than the snapshot TTL after the database had none left. */
  soldOutShownAvailable: number;
  p50Ms: number;
  p99Ms: number;
  byStatus: Record<string, number>;
  errors: number;
  stalest?: StaleReading;
}

export interface CatalogueReadOptions {
  apiUrl: string;
  eventId: string;
  ticketTypeId: string;
  seconds: number;
  connections: number;
  /** The API's CATALOGUE_SNAPSHOT_TTL_MS: a page may show seats that went this long ago. */
  snapshotTtlMs: number;
  db: Db;
  logDir: string;
}

/** Every client of the catalogue phase comes from 127.0.0.1: the API must not rate-limit the load itself. */
export const CATALOGUE_LOAD_ENV = {
  RATE_LIMIT_PER_IP_PER_MINUTE: '1000000000',
  RATE_LIMIT_ANONYMOUS_PER_IP_PER_MINUTE: '1000000000',
} as const;

const PROBE_EVERY_MS = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the page load for `seconds` and the staleness probe beside it. */
export async function measureCatalogueReads(options: CatalogueReadOptions): Promise<CatalogueReads> {
  const url = `${options.apiUrl}/v1/events/${options.eventId}`;
  const logFile = join(options.logDir, 'catalogue-load.log');
  const resultFile = join(options.logDir, 'catalogue-load.json');
  const load = spawnTs(
    join(__dirname, 'catalogue-load.ts'),
    {
      ...process.env,
      CATALOGUE_LOAD_URL: url,
      CATALOGUE_LOAD_SECONDS: String(options.seconds),
      CATALOGUE_LOAD_CONNECTIONS: String(options.connections),
      CATALOGUE_LOAD_RESULT: resultFile,
    },
    logFile,
  );
  const exited = new Promise<number | null>((done) => load.child.on('exit', (code) => done(code)));
  const probe = probeStaleness(url, options, Date.now() + options.seconds * 1000);
  const [code, probed] = await Promise.all([exited, probe]).finally(() =>
    stopChild(load.child).catch(() => undefined),
  );
  if (code !== 0) throw new Error(`the catalogue load generator exited with code ${code}; see ${logFile}`);
  const measured = loadResult(resultFile);
  return { ...measured, readsPerSecond: Math.round(measured.requestsPerSecond), ...probed };
}

interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  byStatus: Record<string, number>;
  errors: number;
}

/** What bench/catalogue-load.ts wrote, checked: a run must fail saying why, never report a figure it lacks. */
function loadResult(file: string): LoadResult {
  const result = JSON.parse(readFileSync(file, 'utf8')) as LoadResult;
  for (const key of ['requestsPerSecond', 'p50Ms', 'p99Ms', 'errors'] as const)
    if (typeof result?.[key] !== 'number') throw new Error(`${file} has no number ${key}`);
  if (typeof result.byStatus !== 'object') throw new Error(`${file} has no byStatus`);
  return result;
}

/**
 * Every 50 ms: read the ticket type's availability in Postgres, then the page, then Postgres again. A page whose
 * figure lies between the two readings was true during the request: not stale. Otherwise it is as stale as the
 * time since the database last had (or passed) that figure: availability falls in a sale, and rises again only as
 * holds are released, which the rule covers the other way round.
 */
async function probeStaleness(
  url: string,
  options: CatalogueReadOptions,
  until: number,
): Promise<{ staleMsMax: number; soldOutShownAvailable: number; stalest?: StaleReading }> {
  const samples: Array<{ at: number; available: number }> = [];
  const truth = async () => {
    const at = Date.now();
    const row = await options
      .db('ticket_types')
      .where({ id: options.ticketTypeId })
      .first(options.db.raw('capacity - sold - held AS available'));
    const sample = { at, available: Number(row.available) };
    samples.push(sample);
    return sample;
  };
  let stalest: StaleReading | undefined;
  let soldOutShownAvailable = 0;
  let soldOutSince: number | undefined;
  while (Date.now() < until) {
    const before = await truth();
    if (before.available === 0) soldOutSince ??= before.at;
    else soldOutSince = undefined;
    const page = (await (await fetch(url)).json()) as {
      ticketTypes: Array<{ ticketTypeId: string; available: number }>;
    };
    const shown = page.ticketTypes.find((t) => t.ticketTypeId === options.ticketTypeId)?.available ?? 0;
    const after = await truth();
    const low = Math.min(before.available, after.available);
    const high = Math.max(before.available, after.available);
    if (shown < low || shown > high) {
      const agreed = samples.filter((s) => (shown > high ? s.available >= shown : s.available <= shown)).pop();
      const staleMs = after.at - (agreed ?? samples[0]!).at;
      if (!stalest || staleMs > stalest.staleMs)
        stalest = { staleMs, shown, before: before.available, after: after.available };
    }
    if (shown > 0 && soldOutSince !== undefined && before.at - soldOutSince > options.snapshotTtlMs)
      soldOutShownAvailable++;
    await sleep(Math.max(0, PROBE_EVERY_MS - (Date.now() - before.at)));
  }
  return { staleMsMax: stalest?.staleMs ?? 0, soldOutShownAvailable, ...(stalest ? { stalest } : {}) };
}

/** The probe's stalest reading: what the page showed and what Postgres had just before and just after. */
export interface StaleReading {
  staleMs: number;
  shown: number;
  before: number;
  after: number;
}
