import { EVENT_PAGE_CACHE_CONTROL } from '../api/routes/catalogue';
import { createCatalogue, uid } from './support/env';
import { buyAs, call, startTestPlatform, type TestPlatform } from './support/platform';

const TTL_MS = 300;
let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform({ CATALOGUE_SNAPSHOT_TTL_MS: String(TTL_MS) });
}, 120_000);
afterAll(() => platform?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const available = (body: { ticketTypes: Array<{ available: number }> }) => body.ticketTypes[0]!.available;

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
    const { eventId, ticketTypeId } = await createCatalogue(platform.db, { capacity: 2 });
    expect(available((await call(platform, 'GET', `/v1/events/${eventId}`)).body)).toBe(2);
    expect((await buyAs(platform, { eventId, ticketTypeId, quantity: 2 })).status).toBe(201);
    // Within the TTL the snapshot still shows the two seats; the next buyer's 409 drops it.
    const refused = await buyAs(platform, { eventId, ticketTypeId, quantity: 1 });
    expect(refused.status).toBe(409);
    expect(refused.body.type).toMatch(/sold-out$/);
    expect(available((await call(platform, 'GET', `/v1/events/${eventId}`)).body)).toBe(0);
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
