import type { CheckoutInput, PaymentChoice } from '../../domain';
import { uid } from './env';

/** A priced checkout input for one ticket type, as the API would build it. */
export function checkoutInput(
  catalogue: { organizerId: string; eventId: string; ticketTypeId: string },
  options: {
    quantity?: number;
    priceMinor?: number;
    payment?: PaymentChoice;
    buyerId?: string;
    holdTtlMs?: number;
  } = {},
): CheckoutInput {
  const quantity = options.quantity ?? 1;
  const priceMinor = options.priceMinor ?? 2500;
  const orderId = uid('ord');
  return {
    orderId,
    buyerId: options.buyerId ?? uid('buyer'),
    eventId: catalogue.eventId,
    organizerId: catalogue.organizerId,
    idempotencyKey: `key-${orderId}`,
    requestHash: 'test',
    lines: [
      {
        ticketTypeId: catalogue.ticketTypeId,
        name: 'General',
        quantity,
        unitPriceMinor: priceMinor,
        currency: 'USD',
      },
    ],
    total: { amountMinor: priceMinor * quantity, currency: 'USD' },
    payment: options.payment ?? { method: 'card', paymentMethodId: 'pm_card_visa' },
    contact: { email: 'buyer@example.com' },
    holdTtlMs: options.holdTtlMs ?? 15 * 60 * 1000,
  };
}
