import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { COINBASE_API_VERSION, createCoinbaseCryptoPayments } from '../providers/payments/coinbase-crypto';
import type { CryptoPayments } from '../providers/payments/ports';

const API_KEY = 'cb_test_api_key_5a1e';

interface Recorded {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}
interface Reply {
  status: number;
  body: unknown;
}
type Route = (req: Recorded) => Reply | undefined;

/** A local Coinbase Commerce: records every request and answers from the routes a test installs. */
class FakeCoinbase {
  readonly requests: Recorded[] = [];
  routes: Route[] = [];
  private server: Server | null = null;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const recorded: Recorded = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        this.requests.push(recorded);
        const reply = this.routes.map((route) => route(recorded)).find((r) => r !== undefined) ?? {
          status: 404,
          body: { error: { type: 'not_found', message: 'Not found' } },
        };
        res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'r-1' });
        res.end(JSON.stringify(reply.body));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

/** A charge as Coinbase Commerce's 2018-03-22 API returns it, with the timeline a test asks for. */
function chargeJson(opts: {
  id?: string;
  code?: string;
  amount?: string;
  currency?: string;
  orderId?: string;
  timeline?: { status: string; context?: string }[];
}): Record<string, unknown> {
  const id = opts.id ?? 'f765421f-2248-4fd2-8d2f-d3c0ee4dbd70';
  const code = opts.code ?? '66BEOV2A';
  const timeline = (opts.timeline ?? [{ status: 'NEW' }]).map((entry, i) => ({
    time: new Date(Date.UTC(2025, 10, 21, 10, i)).toISOString().replace('.000', ''),
    ...entry,
  }));
  return {
    addresses: {
      bitcoin: 'mymZkiXhQNd6VWWG7VGSVdDX9bKmviti3U',
      ethereum: '0x419f91df39951fd4e8acc8f1874b01c0c78ceba6',
    },
    brand_color: '#122332',
    brand_logo_url: '',
    cancel_url: 'https://shop.bilten.dev/orders/o_1',
    code,
    created_at: '2025-11-21T10:00:00Z',
    description: '2 x General admission, Bilten Live',
    expires_at: '2025-11-21T11:00:00Z',
    fees_settled: true,
    hosted_url: `https://commerce.coinbase.com/charges/${code}`,
    id,
    metadata: opts.orderId === undefined ? {} : { orderId: opts.orderId },
    name: '2 x General admission, Bilten Live',
    offchain_eligible: false,
    organization_name: 'Bilten',
    payments: [],
    pricing: {
      local: { amount: opts.amount ?? '50.00', currency: opts.currency ?? 'USD' },
      bitcoin: { amount: '0.00054300', currency: 'BTC' },
      ethereum: { amount: '0.015243000', currency: 'ETH' },
    },
    pricing_type: 'fixed_price',
    pwcb_only: false,
    redirect_url: 'https://shop.bilten.dev/orders/o_1',
    resource: 'charge',
    support_email: 'support@bilten.dev',
    timeline,
    utxo: false,
  };
}

describe('Coinbase Commerce crypto adapter', () => {
  const coinbase = new FakeCoinbase();
  let payments: CryptoPayments;

  beforeAll(async () => {
    await coinbase.start();
    // The SDK warns (with the URL only) whenever it is pointed at plain HTTP; expected here.
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    payments = createCoinbaseCryptoPayments({ apiKey: API_KEY, apiBase: coinbase.url });
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await coinbase.stop();
  });

  beforeEach(() => {
    coinbase.requests.length = 0;
    coinbase.routes = [];
  });

  it('when a charge is created, then the SDK posts a fixed-price charge with the key, version and order', async () => {
    coinbase.routes.push((req) =>
      req.method === 'POST' && req.path === '/charges'
        ? { status: 201, body: { data: chargeJson({ orderId: 'o_1' }) } }
        : undefined,
    );

    const charge = await payments.createCharge({
      orderId: 'o_1',
      amountMinor: 5000,
      currency: 'usd',
      description: '2 x General admission, Bilten Live',
      redirectUrl: 'https://shop.bilten.dev/orders/o_1',
    });

    expect(coinbase.requests).toHaveLength(1);
    const [req] = coinbase.requests;
    expect(req?.method).toBe('POST');
    expect(req?.path).toBe('/charges');
    expect(req?.headers['x-cc-api-key']).toBe(API_KEY);
    expect(req?.headers['x-cc-version']).toBe(COINBASE_API_VERSION);
    expect(req?.headers['x-cc-version']).toBe('2018-03-22');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.headers.accept).toBe('application/json');
    expect(JSON.parse(req?.body ?? '')).toEqual({
      name: '2 x General admission, Bilten Live',
      description: '2 x General admission, Bilten Live',
      pricing_type: 'fixed_price',
      local_price: { amount: '50.00', currency: 'USD' },
      metadata: { orderId: 'o_1' },
      redirect_url: 'https://shop.bilten.dev/orders/o_1',
      cancel_url: 'https://shop.bilten.dev/orders/o_1',
    });
    expect(charge).toEqual({
      id: 'f765421f-2248-4fd2-8d2f-d3c0ee4dbd70',
      code: '66BEOV2A',
      status: 'NEW',
      hostedUrl: 'https://commerce.coinbase.com/charges/66BEOV2A',
      amountMinor: 5000,
      currency: 'USD',
      expiresAt: '2025-11-21T11:00:00Z',
      orderId: 'o_1',
    });
  });

  it('when the currency has no or three decimals, then the local price is written in its own precision', async () => {
    coinbase.routes.push((req) => {
      const sent = JSON.parse(req.body) as { local_price: { amount: string; currency: string } };
      return {
        status: 201,
        body: { data: chargeJson({ amount: sent.local_price.amount, currency: sent.local_price.currency }) },
      };
    });

    const yen = await payments.createCharge({
      orderId: 'o_2',
      amountMinor: 5000,
      currency: 'JPY',
      description: 'x',
      redirectUrl: 'https://shop.bilten.dev/orders/o_2',
    });
    const dinar = await payments.createCharge({
      orderId: 'o_3',
      amountMinor: 12_345,
      currency: 'KWD',
      description: 'x',
      redirectUrl: 'https://shop.bilten.dev/orders/o_3',
    });

    const sent = coinbase.requests.map((r) => (JSON.parse(r.body) as { local_price: unknown }).local_price);
    expect(sent).toEqual([
      { amount: '5000', currency: 'JPY' },
      { amount: '12.345', currency: 'KWD' },
    ]);
    expect([yen.amountMinor, yen.currency, dinar.amountMinor, dinar.currency]).toEqual([
      5000,
      'JPY',
      12_345,
      'KWD',
    ]);
  });

  it('when a long description is given, then name and description fit Coinbase limits', async () => {
    coinbase.routes.push(() => ({ status: 201, body: { data: chargeJson({}) } }));
    await payments.createCharge({
      orderId: 'o_4',
      amountMinor: 100,
      currency: 'EUR',
      description: '🎟'.repeat(250),
      redirectUrl: 'https://shop.bilten.dev/orders/o_4',
    });
    const body = JSON.parse(coinbase.requests[0]?.body ?? '') as { name: string; description: string };
    // Cut by code points: a ticket emoji is two UTF-16 units and is never split.
    expect(body.name).toBe('🎟'.repeat(100));
    expect(body.description).toBe('🎟'.repeat(200));
  });

  it('when a charge is retrieved, then its status is the last timeline entry', async () => {
    coinbase.routes.push((req) =>
      req.method === 'GET' && req.path === '/charges/66BEOV2A'
        ? {
            status: 200,
            body: {
              data: chargeJson({
                orderId: 'o_1',
                timeline: [{ status: 'NEW' }, { status: 'PENDING' }, { status: 'COMPLETED' }],
              }),
            },
          }
        : undefined,
    );

    const charge = await payments.retrieveCharge('66BEOV2A');

    expect(coinbase.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /charges/66BEOV2A']);
    expect(coinbase.requests[0]?.headers['x-cc-api-key']).toBe(API_KEY);
    expect(coinbase.requests[0]?.body).toBe('');
    expect(charge.status).toBe('COMPLETED');
    expect(charge.orderId).toBe('o_1');
  });

  it('when a payment arrived after expiry, then the charge reads DELAYED', async () => {
    coinbase.routes.push(() => ({
      status: 200,
      body: {
        data: chargeJson({
          timeline: [{ status: 'NEW' }, { status: 'EXPIRED' }, { status: 'UNRESOLVED', context: 'DELAYED' }],
        }),
      },
    }));
    expect((await payments.retrieveCharge('66BEOV2A')).status).toBe('DELAYED');
  });

  it('when an overpaid charge is unresolved, then it stays UNRESOLVED', async () => {
    coinbase.routes.push(() => ({
      status: 200,
      body: { data: chargeJson({ timeline: [{ status: 'NEW' }, { status: 'UNRESOLVED', context: 'OVERPAID' }] }) },
    }));
    expect((await payments.retrieveCharge('66BEOV2A')).status).toBe('UNRESOLVED');
  });

  it('when Coinbase does not know the charge, then retrieve fails with its not-found error', async () => {
    await expect(payments.retrieveCharge('NOPE')).rejects.toMatchObject({ code: 404, message: 'Not found' });
  });

  it('when a new charge is cancelled, then the SDK posts to its cancel endpoint and the charge reads CANCELED', async () => {
    coinbase.routes.push((req) =>
      req.method === 'POST' && req.path === '/charges/66BEOV2A/cancel'
        ? { status: 200, body: { data: chargeJson({ timeline: [{ status: 'NEW' }, { status: 'CANCELED' }] }) } }
        : undefined,
    );

    const charge = await payments.cancelCharge('66BEOV2A');

    expect(coinbase.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /charges/66BEOV2A/cancel']);
    const [req] = coinbase.requests;
    expect(req?.headers['x-cc-api-key']).toBe(API_KEY);
    expect(req?.headers['x-cc-version']).toBe('2018-03-22');
    expect(req?.body).toBe('{}');
    expect(charge.status).toBe('CANCELED');
  });

  it('when a paid charge is cancelled, then Coinbase refuses and the paid charge is returned unchanged', async () => {
    coinbase.routes.push((req) =>
      req.path === '/charges/66BEOV2A/cancel'
        ? { status: 400, body: { error: { type: 'invalid_request', message: 'Charge cannot be cancelled' } } }
        : undefined,
    );
    coinbase.routes.push((req) =>
      req.method === 'GET' && req.path === '/charges/66BEOV2A'
        ? {
            status: 200,
            body: {
              data: chargeJson({ timeline: [{ status: 'NEW' }, { status: 'PENDING' }, { status: 'COMPLETED' }] }),
            },
          }
        : undefined,
    );

    const charge = await payments.cancelCharge('66BEOV2A');

    expect(coinbase.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /charges/66BEOV2A/cancel',
      'GET /charges/66BEOV2A',
    ]);
    expect(charge.status).toBe('COMPLETED');
  });

  it('when a cancel is refused for a charge that is still new, then the refusal is passed on', async () => {
    coinbase.routes.push((req) =>
      req.path === '/charges/66BEOV2A/cancel'
        ? { status: 400, body: { error: { type: 'invalid_request', message: 'Something else is wrong' } } }
        : undefined,
    );
    coinbase.routes.push(() => ({ status: 200, body: { data: chargeJson({}) } }));

    await expect(payments.cancelCharge('66BEOV2A')).rejects.toMatchObject({
      code: 400,
      message: 'Something else is wrong',
    });
  });

  it('when the API key is wrong, then the SDK authentication error comes back and the key is not in it', async () => {
    coinbase.routes.push(() => ({
      status: 401,
      body: { error: { type: 'authentication_error', message: 'No such API key.' } },
    }));
    const err = (await payments.retrieveCharge('66BEOV2A').catch((e: unknown) => e)) as Error & { code: number };
    expect(err.code).toBe(401);
    expect(err.message).toBe('No such API key.');
    expect(JSON.stringify({ message: err.message, stack: err.stack })).not.toContain(API_KEY);
  });

  it('when two adapters with different settings share the SDK singleton, then each request uses its own', async () => {
    const other = new FakeCoinbase();
    await other.start();
    try {
      const second = createCoinbaseCryptoPayments({ apiKey: 'cb_other_key', apiBase: other.url.slice(0, -1) });
      coinbase.routes.push(() => ({ status: 200, body: { data: chargeJson({ code: 'FIRST' }) } }));
      other.routes.push(() => ({ status: 200, body: { data: chargeJson({ code: 'SECOND' }) } }));

      const results = await Promise.all([
        payments.retrieveCharge('A'),
        second.retrieveCharge('B'),
        payments.retrieveCharge('C'),
      ]);

      expect(results.map((c) => c.code)).toEqual(['FIRST', 'SECOND', 'FIRST']);
      expect(coinbase.requests.map((r) => [r.path, r.headers['x-cc-api-key']])).toEqual([
        ['/charges/A', API_KEY],
        ['/charges/C', API_KEY],
      ]);
      expect(other.requests.map((r) => [r.path, r.headers['x-cc-api-key']])).toEqual([
        ['/charges/B', 'cb_other_key'],
      ]);
    } finally {
      await other.stop();
    }
  });
});
