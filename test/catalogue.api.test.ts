import { CANCELLATION_QUERY_DEADLINE_MS, EVENT_PAGE_CACHE_CONTROL } from '../api/routes/catalogue';
import { eventCancellationWorkflowId, type CancellationProgress } from '../domain';
import { createCatalogue, uid } from './support/env';
import { buyAs, call, startTestPlatform, type TestPlatform } from './support/platform';

// The most the config allows: longer than a checkout takes here, so a page that changed within a test changed
// because something dropped it.
const TTL_MS = 1000;
let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform({ CATALOGUE_SNAPSHOT_TTL_MS: String(TTL_MS) });
}, 120_000);
afterAll(() => platform?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const available = (body: { ticketTypes: Array<{ available: number }> }) => body.ticketTypes[0]!.available;

/**
 * Shows a buyer a two-seat event's page, runs `sell`, and answers the buyer's next refresh, provided it came within
 * one TTL of the first view: only then does what it shows prove the snapshot was dropped, not merely expired. A run
 * slower than that (a cold start, a loaded machine) tries again on a new event.
 */
async function insideOneTtl(sell: (eventId: string, ticketTypeId: string) => Promise<void>) {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const { eventId, ticketTypeId } = await createCatalogue(platform.db, { capacity: 2 });
    const viewedAt = Date.now();
    expect(available((await call(platform, 'GET', `/v1/events/${eventId}`)).body)).toBe(2);
    await sell(eventId, ticketTypeId);
    const refreshed = await call(platform, 'GET', `/v1/events/${eventId}`);
    if (Date.now() - viewedAt < TTL_MS) return refreshed.body;
  }
  throw new Error(`five tries, and not one refresh came within ${TTL_MS} ms of the first view`);
}

describe('GET /v1/events/:eventId', () => {
  test('when a browser revalidates with the ETag it has, then 304 with no body; after a sale, 200 with a new ETag', async () => {
    const { eventId, ticketTypeId } = await createCatalogue(platform.db, { capacity: 10 });
    const first = await call(platform, 'GET', `/v1/events/${eventId}`);
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe(EVENT_PAGE_CACHE_CONTROL);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);

    const again = await call(platform, 'GET', `/v1/events/${eventId}`, { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    expect(again.body).toBeNull();

    expect((await buyAs(platform, { eventId, ticketTypeId, quantity: 2 })).status).toBe(201);
    await sleep(TTL_MS);
    const after = await call(platform, 'GET', `/v1/events/${eventId}`, { headers: { 'If-None-Match': etag } });
    expect(after.status).toBe(200);
    expect(after.headers.get('etag')).not.toBe(etag);
    expect(available(after.body)).toBe(8);
  });

  test('when a sale happened, then the page shows it once the snapshot TTL has passed', async () => {
    const { eventId, ticketTypeId } = await createCatalogue(platform.db, { capacity: 10 });
    expect(available((await call(platform, 'GET', `/v1/events/${eventId}`)).body)).toBe(10);
    expect((await buyAs(platform, { eventId, ticketTypeId, quantity: 3 })).status).toBe(201);
    await sleep(TTL_MS);
    expect(available((await call(platform, 'GET', `/v1/events/${eventId}`)).body)).toBe(7);
  });

  test('when a buyer is told sold out while the page still shows seats, then their next refresh shows none', async () => {
    const refreshed = await insideOneTtl(async (eventId, ticketTypeId) => {
      expect((await buyAs(platform, { eventId, ticketTypeId, quantity: 2 })).status).toBe(201);
      // The snapshot still shows the two seats; the next buyer's 409 drops it.
      const refused = await buyAs(platform, { eventId, ticketTypeId, quantity: 1 });
      expect(refused.status).toBe(409);
      expect(refused.body.type).toMatch(/sold-out$/);
    });
    expect(available(refreshed)).toBe(0);
  });

  test('when the hold refuses a buyer whom the early check let through, then their next refresh shows no seats either', async () => {
    const refreshed = await insideOneTtl(async (eventId, ticketTypeId) => {
      // Two buyers for the last two seats at once: both early checks read them free (neither hold has run yet), so
      // the loser is refused by the checkout's own hold. That 409 names the order; the early check's does not.
      const [a, b] = await Promise.all([
        buyAs(platform, { eventId, ticketTypeId, quantity: 2 }),
        buyAs(platform, { eventId, ticketTypeId, quantity: 2 }),
      ]);
      const refused = a.status === 409 ? a : b;
      expect([a.status, b.status].sort()).toEqual([201, 409]);
      expect(refused.body.type).toMatch(/sold-out$/);
      expect(refused.body.orderId).toEqual(expect.any(String));
    });
    expect(available(refreshed)).toBe(0);
  });

  test("when Temporal does not answer a cancellation's progress in time, then the page shows the progress it last recorded", async () => {
    const { eventId } = await createCatalogue(platform.db, { capacity: 10 });
    // Set by SQL, as the state a running cancellation leaves, with its workflow on a queue no worker polls, so the
    // live query waits out its deadline. test/event-cancellation.api.test.ts covers the page of a real cancellation.
    const recorded: CancellationProgress = { total: 3, refunded: 1, failed: 0, inProgress: 2 };
    await platform.db('events').where({ id: eventId }).update({ status: 'CANCELLING', cancellation: recorded });
    const handle = await platform.client.workflow.start('eventCancellationWorkflow', {
      workflowId: eventCancellationWorkflowId(eventId),
      taskQueue: uid('no-worker'),
      args: [{ eventId, organizerId: uid('org'), requestedBy: 'admin:a_1', parallelism: 1, pollMs: 1000 }],
    });
    try {
      const asked = Date.now();
      const page = await call(platform, 'GET', `/v1/events/${eventId}`);
      const waitedMs = Date.now() - asked;
      expect(page.status).toBe(200);
      expect(page.body).toMatchObject({ status: 'CANCELLING', cancellation: recorded });
      // The query's deadline bounded the wait, not the server's own (without it this read waited 30 s here).
      expect(waitedMs).toBeGreaterThanOrEqual(CANCELLATION_QUERY_DEADLINE_MS);
      expect(waitedMs).toBeLessThan(10_000);
    } finally {
      await handle.terminate('test done');
    }
  });

  test('when a hundred buyers refresh at once, then the event is read from Postgres at most twice', async () => {
    const { eventId } = await createCatalogue(platform.db, { capacity: 10 });
    let reads = 0;
    const count = (q: { sql: string }) => void (/from events e where e\.id/i.test(q.sql) && reads++);
    platform.db.on('query', count);
    try {
      const pages = await Promise.all(
        Array.from({ length: 100 }, () => call(platform, 'GET', `/v1/events/${eventId}`)),
      );
      expect(pages.every((p) => p.status === 200 && available(p.body) === 10)).toBe(true);
    } finally {
      platform.db.off('query', count);
    }
    // One read, or two if the hundred requests took longer than the TTL to arrive.
    expect(reads).toBeGreaterThanOrEqual(1);
    expect(reads).toBeLessThanOrEqual(2);
  });

  test('when the event does not exist, then 404 problem+json; when the id is malformed, 404 too', async () => {
    const missing = await call(platform, 'GET', `/v1/events/${uid('evt')}`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const malformed = await call(platform, 'GET', `/v1/events/${encodeURIComponent("x' or 1=1 --")}`);
    expect(malformed.status).toBe(404);
    expect(malformed.headers.get('content-type')).toMatch(/application\/problem\+json/);
  });
});
