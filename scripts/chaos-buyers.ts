// The buyers of the crash suite (scripts/chaos.ts): each one walks a money path through the real API as a
// client app would, retrying the same Idempotency-Key (or the same hosted-page press) through outages, and
// writes down what it was told, so that the books can be checked against it afterwards.
import { issueToken } from '../api/auth';
import type { Config } from '../config';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The paths a buyer may take. */
export type Journey =
  | 'card'
  | 'card-refunded'
  | 'card-declined'
  | '3ds-passed'
  | '3ds-failed'
  | '3ds-abandoned'
  | 'crypto-confirmed'
  | 'crypto-late'
  | 'crypto-failed'
  | 'sold-out-race';

/** How often each journey is drawn from the stream (the sold-out race also comes as one burst). */
// The paths the run must prove come first: each run walks every journey once, in this order, before drawing.
const MIX: Array<[Journey, number]> = [
  ['crypto-confirmed', 0.1],
  ['crypto-late', 0.06],
  ['3ds-passed', 0.08],
  ['card-refunded', 0.12],
  ['card', 0.3],
  ['card-declined', 0.08],
  ['3ds-failed', 0.04],
  ['3ds-abandoned', 0.04],
  ['crypto-failed', 0.04],
  ['sold-out-race', 0.14],
];

/** Draws a journey with the stream's mix. */
export function drawJourney(roll: number): Journey {
  let sum = 0;
  for (const [journey, share] of MIX) {
    sum += share;
    if (roll < sum) return journey;
  }
  return 'card';
}

/** One answer the buyer got after retrying through errors; `status` is missing when none came at all. */
export interface Answer {
  status?: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the API's JSON, read field by field
  body?: any;
  attempts: number;
}

/** What one buyer did and was told. */
export interface Outcome {
  key: string;
  buyer: string;
  journey: Journey;
  ticketTypeId: string;
  checkout: Answer;
  orderId?: string;
  /** The order status the checkout answered with. */
  toldStatus?: string;
  /** The sandbox hosted page's answer (3-D Secure or crypto), when the journey presses a button there. */
  page?: Answer & { outcome: string };
  /** The refund request's answer, for `card-refunded`. */
  refund?: Answer;
}

/** The catalogue the buyers shop from: a large ticket type and a small one that sells out. */
export interface ChaosCatalogue {
  eventId: string;
  largeTypeId: string;
  smallTypeId: string;
  smallCapacity: number;
}

/** A client that keeps trying, as a buyer's app does: errors and 5xx are retried until `giveUpAt`. */
async function persist(
  url: string,
  init: { method: string; token?: string; key?: string; body?: unknown },
  giveUpAt: number,
): Promise<Answer> {
  const answer: Answer = { attempts: 0 };
  while (answer.attempts < 60 && Date.now() < giveUpAt) {
    answer.attempts++;
    try {
      const res = await fetch(url, {
        method: init.method,
        headers: {
          ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
          ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(init.key ? { 'idempotency-key': init.key } : {}),
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: AbortSignal.timeout(20_000),
      });
      answer.status = res.status;
      answer.body = await res.json().catch(() => null);
      if (res.status < 500) return answer;
    } catch {
      answer.status = undefined; // timed out or the API was unreachable: try again
    }
    await sleep(1000);
  }
  return answer;
}

/** Runs buyers one journey at a time; `patienceMs` is how long past the stream's end a buyer keeps retrying. */
export function createBuyers(options: {
  config: Config;
  catalogue: ChaosCatalogue;
  seed: number;
  random: () => number;
  patienceMs: number;
}) {
  const { config, catalogue, seed, random } = options;
  const base = config.PUBLIC_BASE_URL;
  const outcomes: Outcome[] = [];
  let n = 0;
  let streamEndsAt = Infinity;

  async function buy(journey: Journey): Promise<Outcome> {
    const i = n++;
    const ticketTypeId = journey === 'sold-out-race' ? catalogue.smallTypeId : catalogue.largeTypeId;
    const outcome: Outcome = {
      key: `chaos-${i}`,
      buyer: `chaos_buyer_${seed}_${i}`,
      journey,
      ticketTypeId,
      checkout: { attempts: 0 },
    };
    outcomes.push(outcome);
    const giveUpAt = () => Math.min(streamEndsAt, Date.now() + 600_000) + options.patienceMs;
    const token = issueToken(config, { sub: outcome.buyer, role: 'buyer' }, 3600);
    const payment = journey.startsWith('crypto')
      ? { method: 'crypto' }
      : {
          method: 'card',
          paymentMethodId:
            journey === 'card-declined'
              ? 'pm_card_chargeDeclined'
              : journey.startsWith('3ds')
                ? 'pm_card_threeDSecure2Required'
                : 'pm_card_visa',
        };
    outcome.checkout = await persist(
      `${base}/v1/checkouts`,
      {
        method: 'POST',
        token,
        key: outcome.key,
        body: {
          eventId: catalogue.eventId,
          items: [{ ticketTypeId, quantity: 1 + Math.floor(random() * 2) }],
          payment,
          buyer: { email: `buyer${i}@chaos.example` },
        },
      },
      giveUpAt(),
    );
    if (outcome.checkout.status !== 201) return outcome;
    outcome.orderId = outcome.checkout.body?.orderId;
    outcome.toldStatus = outcome.checkout.body?.status;

    const press = PAGE_OUTCOME[journey];
    const hostedUrl: string | undefined = outcome.checkout.body?.payment?.hostedUrl;
    if (press && hostedUrl) {
      outcome.page = {
        outcome: press,
        ...(await persist(`${hostedUrl}/complete`, { method: 'POST', body: { outcome: press } }, giveUpAt())),
      };
    }
    if (journey === 'card-refunded' && outcome.toldStatus === 'PAID') {
      outcome.refund = await persist(
        `${base}/v1/orders/${outcome.orderId}/refunds`,
        { method: 'POST', token, key: `refund-${outcome.key}`, body: { reason: 'chaos: changed my mind' } },
        giveUpAt(),
      );
    }
    return outcome;
  }

  return {
    outcomes,
    buy,
    /**
     * Buyers keep coming until `deadline`, `concurrency` at a time: first one of every journey, so that each path
     * is walked in every run whatever the seed, then journeys drawn with the stream's mix.
     */
    stream: (deadline: number, concurrency: number, overtimeMs = 90_000) => {
      streamEndsAt = deadline + overtimeMs;
      const due = MIX.map(([journey]) => journey);
      // On a slow machine the faults can eat the whole window: journeys still due may run into overtime.
      const goOn = () => Date.now() < deadline || (due.length > 0 && Date.now() < deadline + overtimeMs);
      return Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (goOn()) {
            const outcome = await buy(due.shift() ?? drawJourney(random()));
            // A path the faults kept from its end (a 3-D Secure pass after the hold lapsed) comes round again.
            if (!reachedItsPoint(outcome)) due.push(outcome.journey);
          }
        }),
      );
    },
    /** As many buyers at once as the small ticket type has seats, each asking for one or two: it sells out. */
    soldOutBurst: () =>
      Promise.all(Array.from({ length: catalogue.smallCapacity }, () => buy('sold-out-race'))).then(
        () => undefined,
      ),
  };
}

/** The button each journey presses on its sandbox hosted page (none: the buyer walks away). */
const PAGE_OUTCOME: Partial<Record<Journey, string>> = {
  '3ds-passed': 'succeeded',
  '3ds-failed': 'failed',
  'crypto-confirmed': 'confirmed',
  'crypto-late': 'delayed',
  'crypto-failed': 'failed',
};

/**
 * Whether a journey got as far as the path it is there to prove: the challenge passed, the crypto paid (on time or
 * late), the refund accepted. The books then say whether the platform kept its word (chaos-books.ts).
 */
function reachedItsPoint(o: Outcome): boolean {
  switch (o.journey) {
    case '3ds-passed':
      return o.page?.body?.status === 'succeeded';
    case 'crypto-confirmed':
      return o.page?.body?.status === 'COMPLETED';
    case 'crypto-late':
      return o.page?.body?.status === 'DELAYED';
    case 'card-refunded':
      return o.refund?.status === 202;
    default:
      return true;
  }
}
