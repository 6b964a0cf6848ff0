import { createHash } from 'node:crypto';

/** One event's public page as it is served: the JSON body, its strong ETag, and when its data was read. */
export interface EventPage {
  body: Buffer;
  etag: string;
  /** When the read that produced it started: the page shows the database as it was at this instant or later. */
  readAt: number;
  /** Ticket types the page shows with seats available. */
  onSale: ReadonlySet<string>;
}

/** What the snapshot needs to know of an event's public view. */
export interface EventView {
  ticketTypes: Array<{ ticketTypeId: string; available: number }>;
}

export interface CatalogueSnapshot {
  /** The event's page, at most `ttlMs` older than now; null when there is no such event. */
  page(eventId: string): Promise<EventPage | null>;
  /**
   * A checkout found a ticket type sold out: if the page still shows it available, it is dropped, so the buyer who
   * was just told "sold out" does not see seats on their next refresh. A page that already shows it sold out stays.
   */
  soldOut(eventId: string, ticketTypeId: string): void;
}

export interface CatalogueSnapshotOptions {
  /** Reads the event's public view from the database; null when there is no such event. */
  read(eventId: string): Promise<EventView | null>;
  /** How long a page is served before it is read again. */
  ttlMs: number;
  /** How many events' pages are kept; the least recently read are dropped first. */
  maxEvents?: number;
  now?: () => number;
}

/**
 * A shared, short-lived snapshot of event pages. During a flash sale most of the traffic is buyers refreshing one
 * event's page; reading the database for each of them would put the catalogue's load on the same rows the checkouts
 * lock. Instead each event is read at most once per `ttlMs`, and concurrent requests share the read in flight
 * (single flight), so a page is never staler than `ttlMs` plus one read. The body is serialized and hashed once per
 * read, so a request costs a map lookup and, when the browser already has it, a 304.
 */
export function createCatalogueSnapshot(options: CatalogueSnapshotOptions): CatalogueSnapshot {
  const now = options.now ?? Date.now;
  const maxEvents = options.maxEvents ?? 1000;
  const pages = new Map<string, EventPage>();
  const reads = new Map<string, Promise<EventPage | null>>();

  const keep = (eventId: string, page: EventPage) => {
    pages.delete(eventId);
    pages.set(eventId, page);
    // A Map iterates in insertion order, so its first key is the page read longest ago.
    while (pages.size > maxEvents) pages.delete(pages.keys().next().value as string);
  };

  const readPage = (eventId: string): Promise<EventPage | null> => {
    const inFlight = reads.get(eventId);
    if (inFlight) return inFlight;
    const readAt = now();
    const read: Promise<EventPage | null> = options
      .read(eventId)
      .then((view) => {
        // Invalidated while it ran: its answer may predate what invalidated it, so it is served once, never kept.
        const current = reads.get(eventId) === read;
        if (!view) {
          // An unknown id is not kept: ids that do not exist must not crowd out events that do.
          if (current) pages.delete(eventId);
          return null;
        }
        const body = Buffer.from(JSON.stringify(view));
        const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
        const onSale = new Set(view.ticketTypes.filter((t) => t.available > 0).map((t) => t.ticketTypeId));
        const page = { body, etag, readAt, onSale };
        if (current) keep(eventId, page);
        return page;
      })
      .finally(() => {
        if (reads.get(eventId) === read) reads.delete(eventId);
      });
    reads.set(eventId, read);
    return read;
  };

  return {
    page: async (eventId) => {
      const page = pages.get(eventId);
      if (page && now() - page.readAt < options.ttlMs) return page;
      return readPage(eventId);
    },
    soldOut: (eventId, ticketTypeId) => {
      if (!pages.get(eventId)?.onSale.has(ticketTypeId)) return;
      pages.delete(eventId);
      reads.delete(eventId);
    },
  };
}
