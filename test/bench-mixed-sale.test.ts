import {
  completeHostedPayment,
  instantCardPlan,
  MIX_CYCLE_LENGTH,
  mixedSaleFigures,
  mixedSalePlan,
  type PaymentMethodKind,
} from '../bench/mixed-sale';

const kindsOf = (from: number, n: number) => Array.from({ length: n }, (_, i) => mixedSalePlan(from + i).kind);
const tally = (kinds: PaymentMethodKind[]) =>
  kinds.reduce<Record<string, number>>((t, k) => ({ ...t, [k]: (t[k] ?? 0) + 1 }), {});

describe('the mixed sale plan', () => {
  test('when any 20 consecutive buyers are taken, then 14 pay by instant card, 3 by 3-D Secure and 3 in crypto', () => {
    for (const from of [0, 1, 7, 19, 20, 133, 9_999]) {
      expect(tally(kindsOf(from, MIX_CYCLE_LENGTH))).toEqual({ card: 14, '3ds': 3, crypto: 3 });
    }
  });

  test('when the sale is cut short after 10 buyers, then both slow methods are already among them', () => {
    const first = tally(kindsOf(0, 10));
    expect(first['3ds']).toBeGreaterThanOrEqual(1);
    expect(first.crypto).toBeGreaterThanOrEqual(1);
  });

  test('when the next 20 buyers come, then they pay in the same order as the 20 before them', () => {
    expect(kindsOf(20, MIX_CYCLE_LENGTH)).toEqual(kindsOf(0, MIX_CYCLE_LENGTH));
    expect(kindsOf(400, MIX_CYCLE_LENGTH)).toEqual(kindsOf(0, MIX_CYCLE_LENGTH));
  });

  test('when a plan is read, then it carries the checkout payment and the hosted-page press of its method', () => {
    const plans = Object.fromEntries(kindsOf(0, MIX_CYCLE_LENGTH).map((k, i) => [k, mixedSalePlan(i)]));
    expect(plans.card).toEqual({ kind: 'card', payment: { method: 'card', paymentMethodId: 'pm_card_visa' } });
    expect(plans['3ds']).toMatchObject({
      kind: '3ds',
      payment: { method: 'card', paymentMethodId: 'pm_card_threeDSecure2Required' },
      press: 'succeeded',
    });
    expect(plans.crypto).toMatchObject({ kind: 'crypto', payment: { method: 'crypto' }, press: 'confirmed' });
    expect(plans.card!.complete).toBeUndefined();
    expect(instantCardPlan()).toEqual(plans.card);
  });
});

describe('completing a non-instant buyer', () => {
  const placed = { payment: { hostedUrl: 'http://127.0.0.1:3099/sandbox/stripe/3ds/pi_sbx_1' } };
  const buyer = { token: 'a-token', apiUrl: 'http://127.0.0.1:3099' };
  const reply = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

  test('when a 3-D Secure buyer completes, then it posts its outcome as JSON to the page and reads the new state', async () => {
    const calls: Array<[string, RequestInit | undefined]> = [];
    const fake = (async (url: string, init?: RequestInit) => {
      calls.push([url, init]);
      return reply(200, { status: 'succeeded' });
    }) as typeof fetch;
    const threeDSecure = mixedSalePlan(kindsOf(0, MIX_CYCLE_LENGTH).indexOf('3ds'));
    const answer = await completeHostedPayment(threeDSecure, placed, { fetch: fake });
    expect(calls).toEqual([
      [
        'http://127.0.0.1:3099/sandbox/stripe/3ds/pi_sbx_1/complete',
        expect.objectContaining({ method: 'POST', body: JSON.stringify({ outcome: 'succeeded' }) }),
      ],
    ]);
    expect(answer).toEqual({ status: 200, paymentStatus: 'succeeded', attempts: 1 });
  });

  test('when the page answers 5xx or not at all, then the press is retried until it gets an answer', async () => {
    const answers: Array<() => Response> = [
      () => {
        throw new TypeError('fetch failed');
      },
      () => reply(503, {}),
      () => reply(200, { status: 'COMPLETED' }),
    ];
    const fake = (async () => answers.shift()!()) as unknown as typeof fetch;
    const crypto = { kind: 'crypto', payment: { method: 'crypto' }, press: 'confirmed' } as const;
    const answer = await completeHostedPayment(crypto, placed, { fetch: fake, retryDelayMs: 1 });
    expect(answer).toEqual({ status: 200, paymentStatus: 'COMPLETED', attempts: 3 });
  });

  test('when the page does not leave the payment paid, then completing the buyer fails with what the page said', async () => {
    const threeDSecure = mixedSalePlan(kindsOf(0, MIX_CYCLE_LENGTH).indexOf('3ds'));
    const realFetch = global.fetch;
    global.fetch = (async () => reply(404, { type: 'https://bilten.example/problems/not-found' })) as typeof fetch;
    try {
      await expect(
        threeDSecure.complete!({ orderId: 'ord_1', status: 'AWAITING_PAYMENT', ...placed }, buyer),
      ).rejects.toThrow('the hosted page answered 404');
    } finally {
      global.fetch = realFetch;
    }
  });

  test('when the buyer paid by instant card, then nothing is pressed', async () => {
    const fake = jest.fn() as unknown as typeof fetch;
    expect(await completeHostedPayment(instantCardPlan(), placed, { fetch: fake })).toEqual({ attempts: 0 });
    expect(fake).not.toHaveBeenCalled();
  });
});

describe('the mixed sale figures', () => {
  test('when buyers paid by each method, then tickets per minute are over the window and p95 is per method', () => {
    const figures = mixedSaleFigures({
      tickets: 150,
      windowSeconds: 30,
      paidMsByMethod: { card: [100, 200, 300], '3ds': [900, 1000], crypto: [] },
    });
    expect(figures.mixedTicketsPerMinute).toBe(300);
    expect(figures.mixedPaidP95Ms).toEqual({ card: 300, '3ds': 1000, crypto: 0 });
    expect(figures.byMethod.card).toEqual({ paid: 3, p50: 200, p95: 300, p99: 300 });
    expect(figures.byMethod.crypto.paid).toBe(0);
  });
});
