import { createCatalogueSnapshot, type EventView } from '../api/catalogue-snapshot';

/** A read that resolves when the test says, counting how often the database was asked. */
function controlledRead() {
  const calls: Array<{ eventId: string; resolve: (view: EventView | null) => void }> = [];
  return {
    calls,
    read: (eventId: string) => new Promise<EventView | null>((resolve) => calls.push({ eventId, resolve })),
  };
}
const view = (available: number): EventView => ({ ticketTypes: [{ ticketTypeId: 'tt_1', available }] });

describe('the catalogue snapshot', () => {
  test('when many requests arrive while the page is being read, then the database is read once and all share it', async () => {
    const db = controlledRead();
    const snapshot = createCatalogueSnapshot({ read: db.read, ttlMs: 250, now: () => 0 });
    const pages = Array.from({ length: 50 }, () => snapshot.page('evt_1'));
    expect(db.calls).toHaveLength(1);
    db.calls[0]!.resolve(view(3));
    const answered = await Promise.all(pages);
    expect(new Set(answered)).toEqual(new Set([answered[0]]));
    expect(JSON.parse(answered[0]!.body.toString())).toEqual(view(3));
  });

  test('when the page is younger than the TTL, then it is served without a read; once older, it is read again', async () => {
    let clock = 1_000;
    const db = controlledRead();
    const snapshot = createCatalogueSnapshot({ read: db.read, ttlMs: 250, now: () => clock });
    const first = snapshot.page('evt_1');
    db.calls[0]!.resolve(view(3));
    await first;
    clock += 249;
    await snapshot.page('evt_1');
    expect(db.calls).toHaveLength(1);
    clock += 1;
    const again = snapshot.page('evt_1');
    expect(db.calls).toHaveLength(2);
    db.calls[1]!.resolve(view(2));
    expect(JSON.parse((await again)!.body.toString())).toEqual(view(2));
  });

  test('when the content changes, then the ETag changes; when it does not, the ETag stays', async () => {
    let clock = 0;
    const views = [view(3), view(3), view(2)];
    const snapshot = createCatalogueSnapshot({ read: async () => views.shift()!, ttlMs: 10, now: () => clock });
    const etags: string[] = [];
    for (let i = 0; i < 3; i++, clock += 10) etags.push((await snapshot.page('evt_1'))!.etag);
    expect(etags[0]).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(etags[1]).toBe(etags[0]);
    expect(etags[2]).not.toBe(etags[0]);
  });

  test('when a checkout finds a type sold out that the page shows available, then the next request reads again', async () => {
    const db = controlledRead();
    const snapshot = createCatalogueSnapshot({ read: db.read, ttlMs: 60_000, now: () => 0 });
    const first = snapshot.page('evt_1');
    db.calls[0]!.resolve(view(1));
    await first;
    snapshot.soldOut('evt_1', 'tt_1');
    const next = snapshot.page('evt_1');
    expect(db.calls).toHaveLength(2);
    db.calls[1]!.resolve(view(0));
    await next;
    // The page now shows it sold out: more sold-out answers leave it alone.
    snapshot.soldOut('evt_1', 'tt_1');
    await snapshot.page('evt_1');
    expect(db.calls).toHaveLength(2);
  });

  test('when an event does not exist, then null is answered and nothing is kept for it', async () => {
    const db = controlledRead();
    const snapshot = createCatalogueSnapshot({ read: db.read, ttlMs: 60_000, now: () => 0 });
    const missing = snapshot.page('evt_none');
    db.calls[0]!.resolve(null);
    expect(await missing).toBeNull();
    void snapshot.page('evt_none');
    expect(db.calls).toHaveLength(2);
  });

  test('when more events are read than it keeps, then the one read longest ago is dropped', async () => {
    let reads = 0;
    const snapshot = createCatalogueSnapshot({
      read: async () => (reads++, view(1)),
      ttlMs: 60_000,
      maxEvents: 2,
      now: () => 0,
    });
    for (const id of ['evt_a', 'evt_b', 'evt_c']) await snapshot.page(id);
    await snapshot.page('evt_c');
    await snapshot.page('evt_b');
    expect(reads).toBe(3);
    await snapshot.page('evt_a');
    expect(reads).toBe(4);
  });
});
