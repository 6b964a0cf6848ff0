// Catalogue reads during the sale: buyers refreshing the event page while others buy. The load comes from
// bench/catalogue-load.ts (autocannon, a process of its own); a probe here compares what the page shows with
// what Postgres holds, to measure how stale availability gets and whether sold-out seats are ever shown.
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
  const load = spawnTs(
    join(__dirname, 'catalogue-load.ts'),
    {
      ...process.env,
      CATALOGUE_LOAD_URL: url,
      CATALOGUE_LOAD_SECONDS: String(options.seconds),
      CATALOGUE_LOAD_CONNECTIONS: String(options.connections),
    },
    join(options.logDir, 'catalogue-load.log'),
  );
  let out = '';
  load.child.stdout?.on('data', (chunk: Buffer) => void (out += chunk.toString()));
  const exited = new Promise<void>((done) => load.child.on('exit', () => done()));
  const probe = probeStaleness(url, options, Date.now() + options.seconds * 1000);
  const [, probed] = await Promise.all([exited, probe]);
  const line = out.trim().split('\n').pop() ?? '';
  const measured = JSON.parse(line) as {
    requestsPerSecond: number;
    p50Ms: number;
    p99Ms: number;
    byStatus: Record<string, number>;
    errors: number;
  };
  await stopChild(load.child).catch(() => undefined);
  return { ...measured, readsPerSecond: Math.round(measured.requestsPerSecond), ...probed };
}

/**
 * Every 50 ms: read the ticket type's availability in Postgres, then the page. A page that shows a value the
 * database no longer has is as stale as the time since the database last had it (availability only falls in a
 * sale, save for holds released, which the rule covers the other way round).
 */
async function probeStaleness(
  url: string,
  options: CatalogueReadOptions,
  until: number,
): Promise<{ staleMsMax: number; soldOutShownAvailable: number }> {
  const samples: Array<{ at: number; available: number }> = [];
  let staleMsMax = 0;
  let soldOutShownAvailable = 0;
  let soldOutSince: number | undefined;
  while (Date.now() < until) {
    const at = Date.now();
    const row = await options
      .db('ticket_types')
      .where({ id: options.ticketTypeId })
      .first(options.db.raw('capacity - sold - held AS available'));
    const truth = Number(row.available);
    samples.push({ at, available: truth });
    if (truth === 0) soldOutSince ??= at;
    else soldOutSince = undefined;
    const page = (await (await fetch(url)).json()) as { ticketTypes: Array<{ ticketTypeId: string; available: number }> };
    const shown = page.ticketTypes.find((t) => t.ticketTypeId === options.ticketTypeId)?.available ?? 0;
    const answeredAt = Date.now();
    if (shown !== truth) {
      const agrees = samples.filter((s) => (shown > truth ? s.available >= shown : s.available <= shown));
      const lastAgreed = agrees.length ? agrees[agrees.length - 1]!.at : samples[0]!.at;
      staleMsMax = Math.max(staleMsMax, answeredAt - lastAgreed);
    }
    if (shown > 0 && soldOutSince !== undefined && at - soldOutSince > options.snapshotTtlMs) soldOutShownAvailable++;
    await sleep(Math.max(0, PROBE_EVERY_MS - (Date.now() - at)));
  }
  return { staleMsMax, soldOutShownAvailable };
}
