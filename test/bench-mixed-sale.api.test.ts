import { MIX_CYCLE_LENGTH, mixedSalePlan, type PaymentMethodKind } from '../bench/mixed-sale';
import { createCatalogue } from './support/env';
import { buyAs, call, startTestPlatform, type TestPlatform } from './support/platform';

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform();
}, 120_000);
afterAll(() => platform?.stop());

/** The first buyer index of the mixed sale that pays with `kind`. */
const firstBuyerPaying = (kind: PaymentMethodKind) =>
  Array.from({ length: MIX_CYCLE_LENGTH }, (_, i) => i).find((i) => mixedSalePlan(i).kind === kind)!;

describe("the mixed sale's buyer journeys, through the real API with webhooks on", () => {
  test.each(['card', '3ds', 'crypto'] as const)(
    'when a %s buyer places the order and completes what its plan says, then the buyer sees PAID',
    async (kind) => {
      const catalogue = await createCatalogue(platform.db, { capacity: 5 });
      const plan = mixedSalePlan(firstBuyerPaying(kind));
      const placed = await buyAs(platform, {
        eventId: catalogue.eventId,
        ticketTypeId: catalogue.ticketTypeId,
        quantity: 1,
        payment: plan.payment,
      });
      const { token } = placed;
      expect(placed.status).toBe(201);
      if (placed.body.status !== 'PAID') await plan.complete!(placed.body, { token, apiUrl: platform.baseUrl });
      let order = placed.body;
      for (let i = 0; i < 150 && order.status !== 'PAID'; i++) {
        await new Promise((r) => setTimeout(r, 200));
        order = (await call(platform, 'GET', `/v1/checkouts/${placed.body.orderId}`, { token })).body;
      }
      expect(order).toMatchObject({
        status: 'PAID',
        payment: { method: plan.payment.method, status: 'succeeded' },
      });
      expect(order.tickets).toHaveLength(1);
    },
  );
});
