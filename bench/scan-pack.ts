// `npm run bench:scan-pack`: how big an offline scan pack is, and how long it takes to build and to load, for an
// event of --tickets tickets (default 100,000) of which --void-percent are refunded. Runs on its own embedded
// Postgres (port 5497, data in .data/bench-scan-pack, wiped each run) and needs no Temporal: a pack is one query.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { buildScanPack } from '../api/scanning';
import { createDb, migrateLatest } from '../db';
import { startPostgres } from '../scripts/postgres';
import { OfflineVerifier } from '../tickets/offline-verifier';
import { generateTicketCode, loadTicketSigner } from '../tickets/signing';

const log = (line: string) => console.log(`[bench:scan-pack] ${line}`);
const DATA_DIR = resolve('.data/bench-scan-pack');

const { values } = parseArgs({
  options: {
    tickets: { type: 'string', default: '100000' },
    'void-percent': { type: 'string', default: '2' },
    'delta-voids': { type: 'string', default: '100' },
    runs: { type: 'string', default: '5' },
  },
});
const TICKETS = Number(values.tickets);
const VOID_SHARE = Number(values['void-percent']) / 100;
const DELTA_VOIDS = Number(values['delta-voids']);
const RUNS = Number(values.runs);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} kB`;

async function main(): Promise<void> {
  rmSync(DATA_DIR, { recursive: true, force: true });
  const postgres = await startPostgres({
    dataDir: resolve(DATA_DIR, 'postgres'),
    port: 5497,
    database: 'bench',
    log,
  });
  const db = createDb(postgres.url, 4);
  try {
    await migrateLatest(db);
    const eventId = 'evt_bench_door';
    await db('organizers').insert({ id: 'org_bench', name: 'Bench', currency: 'USD' });
    await db('events').insert({ id: eventId, organizer_id: 'org_bench', name: 'Bench', starts_at: new Date() });
    await db('ticket_types').insert({
      id: 'tt_bench',
      event_id: eventId,
      name: 'General',
      price_minor: 1000,
      currency: 'USD',
      capacity: TICKETS,
      sold: TICKETS,
    });
    await db('orders').insert({
      id: 'ord_bench',
      buyer_id: 'buyer_bench',
      event_id: eventId,
      organizer_id: 'org_bench',
      idempotency_key: 'bench',
      request_hash: 'bench',
      status: 'PAID',
      total_minor: 0,
      currency: 'USD',
      payment_method: 'card',
    });
    const seeding = performance.now();
    for (let i = 0; i < TICKETS; i += 5000) {
      const rows = Array.from({ length: Math.min(5000, TICKETS - i) }, (_, j) => ({
        id: `tkt_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
        order_id: 'ord_bench',
        ticket_type_id: 'tt_bench',
        event_id: eventId,
        code: generateTicketCode(),
        status: (i + j) % Math.round(1 / VOID_SHARE) === 0 ? 'VOID' : 'VALID',
      }));
      await db('tickets').insert(rows);
    }
    log(`seeded ${TICKETS} tickets in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);
    const keys = [loadTicketSigner('b1'.repeat(32)).publicKeyJwk];

    const buildMs: number[] = [];
    let full = await buildScanPack(db, { eventId, since: null, issuedTo: 'bench', keys });
    for (let run = 0; run < RUNS; run++) {
      const started = performance.now();
      full = await buildScanPack(db, { eventId, since: null, issuedTo: 'bench', keys });
      buildMs.push(performance.now() - started);
    }
    const fullJson = Buffer.from(JSON.stringify(full));

    // A re-sync after some refunds: only the changed tickets travel.
    const voided = await db('tickets')
      .where({ event_id: eventId, status: 'VALID' })
      .limit(DELTA_VOIDS)
      .pluck('id');
    await db('tickets').whereIn('id', voided).update({ status: 'VOID' });
    const deltaStarted = performance.now();
    const delta = await buildScanPack(db, { eventId, since: full.cursor, issuedTo: 'bench', keys });
    const deltaMs = performance.now() - deltaStarted;
    const deltaJson = Buffer.from(JSON.stringify(delta));

    const loadStarted = performance.now();
    const verifier = new OfflineVerifier(JSON.parse(fullJson.toString()), 'bench');
    const loadMs = performance.now() - loadStarted;
    verifier.applyPack(delta);
    const codes = Array.from({ length: 10_000 }, () => generateTicketCode());
    const checkStarted = performance.now();
    for (const code of codes) verifier.check(code);
    const checkUs = ((performance.now() - checkStarted) * 1000) / codes.length;

    const summary = {
      tickets: TICKETS,
      revoked: full.counts.revoked,
      fullPackBytes: fullJson.length,
      fullPackGzipBytes: gzipSync(fullJson).length,
      fullPackBuildMsMedian: Math.round(median(buildMs)),
      deltaVoids: DELTA_VOIDS,
      deltaPackBytes: deltaJson.length,
      deltaPackBuildMs: Math.round(deltaMs),
      verifierLoadMs: Math.round(loadMs),
      verifierCheckMicros: Number(checkUs.toFixed(1)),
    };
    log(
      `full pack: ${kb(summary.fullPackBytes)} (${kb(summary.fullPackGzipBytes)} gzipped), built in ` +
        `${summary.fullPackBuildMsMedian} ms (median of ${RUNS}); delta after ${DELTA_VOIDS} refunds: ` +
        `${kb(summary.deltaPackBytes)} in ${summary.deltaPackBuildMs} ms; verifier loads in ${summary.verifierLoadMs} ms, ` +
        `checks a typed code in ${summary.verifierCheckMicros} µs`,
    );
    console.log(JSON.stringify(summary));
  } finally {
    await db.destroy();
    await postgres.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
