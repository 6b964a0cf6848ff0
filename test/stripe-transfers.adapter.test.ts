import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TransferRefusedError, type Payouts } from '../providers/payouts/ports';
import { createStripePayouts } from '../providers/payouts/stripe-transfers';
import { startStripeMock, type StripeMockServer } from '../scripts/stripe-mock';

const SECRET_KEY = 'sk_test_4eC39HqLyjWDarjtT1zdp7dc';

interface Recorded {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}
type Override = (req: Recorded) => { status: number; body: unknown } | undefined;

/** Between the SDK and stripe-mock: records what went over the wire and answers what stripe-mock cannot (refusals). */
async function startProxy(upstream: string) {
  const requests: Recorded[] = [];
  const overrides: Override[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      requests.push(recorded);
      const reply = overrides.map((o) => o(recorded)).find((r) => r !== undefined);
      if (reply) {
        res.writeHead(reply.status, { 'content-type': 'application/json', 'request-id': 'req_proxy' });
        return res.end(JSON.stringify(reply.body));
      }
      const headers = { ...req.headers };
      delete headers.host;
      const out = request(`${upstream}${recorded.path}`, { method: recorded.method, headers }, (up) => {
        const body: Buffer[] = [];
        up.on('data', (c: Buffer) => body.push(c));
        up.on('end', () => {
          res.writeHead(up.statusCode ?? 502, {
            'content-type': String(up.headers['content-type'] ?? 'application/json'),
          });
          res.end(Buffer.concat(body));
        });
      });
      out.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      out.end(recorded.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    overrides,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const form = (req: Recorded | undefined) => Object.fromEntries(new URLSearchParams(req?.body ?? ''));

describe('Stripe Connect payouts adapter against stripe-mock', () => {
  let mock: StripeMockServer;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let payouts: Payouts;

  beforeAll(async () => {
    mock = await startStripeMock();
    proxy = await startProxy(mock.url);
    payouts = createStripePayouts({ secretKey: SECRET_KEY, apiBase: proxy.url });
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    await mock?.stop();
  });
  beforeEach(() => {
    proxy.requests.length = 0;
    proxy.overrides.length = 0;
  });

  test('when a payout is transferred, then Stripe gets the amount, destination, transfer_group = payout id and idempotency key payout:<id>', async () => {
    const transfer = await payouts.transfer({
      payoutId: 'po_test1',
      amountMinor: 4720,
      currency: 'USD',
      destination: 'acct_1032D82eZvKYlo2C',
      idempotencyKey: 'payout:po_test1',
    });
    expect(transfer.id).toMatch(/^tr_/);
    const sent = proxy.requests.find((r) => r.method === 'POST' && r.path === '/v1/transfers');
    expect(sent?.headers['idempotency-key']).toBe('payout:po_test1');
    expect(form(sent)).toMatchObject({
      amount: '4720',
      currency: 'usd',
      destination: 'acct_1032D82eZvKYlo2C',
      transfer_group: 'po_test1',
      'metadata[payoutId]': 'po_test1',
    });
  });

  test('when Stripe refuses a transfer (insufficient balance), then the adapter throws TransferRefusedError with the code', async () => {
    proxy.overrides.push((req) =>
      req.path === '/v1/transfers'
        ? {
            status: 400,
            body: {
              error: {
                type: 'invalid_request_error',
                code: 'balance_insufficient',
                message: 'You have insufficient available funds in your Stripe account.',
              },
            },
          }
        : undefined,
    );
    const attempt = payouts.transfer({
      payoutId: 'po_test2',
      amountMinor: 100,
      currency: 'USD',
      destination: 'acct_1032D82eZvKYlo2C',
      idempotencyKey: 'payout:po_test2',
    });
    await expect(attempt).rejects.toBeInstanceOf(TransferRefusedError);
    await expect(attempt).rejects.toMatchObject({ code: 'balance_insufficient' });
  });

  test('when Stripe fails with a 500, then the error is not a refusal, so the activity retries with the same key', async () => {
    proxy.overrides.push((req) =>
      req.path === '/v1/transfers'
        ? { status: 500, body: { error: { type: 'api_error', message: 'boom' } } }
        : undefined,
    );
    const attempt = payouts.transfer({
      payoutId: 'po_test3',
      amountMinor: 100,
      currency: 'USD',
      destination: 'acct_1032D82eZvKYlo2C',
      idempotencyKey: 'payout:po_test3',
    });
    await expect(attempt).rejects.not.toBeInstanceOf(TransferRefusedError);
    const keys = proxy.requests.filter((r) => r.path === '/v1/transfers').map((r) => r.headers['idempotency-key']);
    expect(new Set(keys)).toEqual(new Set(['payout:po_test3']));
  });

  test('when a day of transfers is listed, then Stripe is asked for that created range and each maps to a PayoutTransfer', async () => {
    const list = await payouts.listTransfers({ from: '2026-12-01T00:00:00.000Z', to: '2026-12-02T00:00:00.000Z' });
    const sent = proxy.requests.find((r) => r.method === 'GET' && r.path.startsWith('/v1/transfers'));
    const query = Object.fromEntries(new URL(`http://x${sent!.path}`).searchParams);
    expect(query).toMatchObject({
      'created[gte]': String(Date.UTC(2026, 11, 1) / 1000),
      'created[lt]': String(Date.UTC(2026, 11, 2) / 1000),
      limit: '100',
    });
    expect(list.length).toBeGreaterThan(0);
    expect(list[0]).toMatchObject({
      id: expect.stringMatching(/^tr_/),
      amountMinor: expect.any(Number),
      currency: expect.stringMatching(/^[A-Z]{3}$/),
    });
  });
});
