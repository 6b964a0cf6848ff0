import {
  isBalanced,
  platformFee,
  PricingError,
  quoteOrder,
  reversalLedgerLines,
  saleLedgerLines,
} from '../domain';

const catalogue = [
  { id: 'ga', eventId: 'e1', name: 'General', priceMinor: 2500, currency: 'USD', maxPerOrder: 4 },
  { id: 'vip', eventId: 'e1', name: 'VIP', priceMinor: 12000, currency: 'USD', maxPerOrder: 2 },
  { id: 'eur', eventId: 'e1', name: 'Euro seat', priceMinor: 1000, currency: 'EUR', maxPerOrder: 4 },
  { id: 'other', eventId: 'e2', name: 'Other event', priceMinor: 100, currency: 'USD', maxPerOrder: 4 },
];

describe('quoteOrder', () => {
  test('when items are priced, then the server total is the sum of unit price times quantity', () => {
    const quote = quoteOrder(
      'e1',
      [
        { ticketTypeId: 'ga', quantity: 2 },
        { ticketTypeId: 'vip', quantity: 1 },
      ],
      catalogue,
    );
    expect(quote.total).toEqual({ amountMinor: 17000, currency: 'USD' });
  });

  test('when a ticket type is listed twice, then its quantities add up against maxPerOrder', () => {
    expect(() =>
      quoteOrder(
        'e1',
        [
          { ticketTypeId: 'vip', quantity: 1 },
          { ticketTypeId: 'vip', quantity: 2 },
        ],
        catalogue,
      ),
    ).toThrow(expect.objectContaining({ type: 'LimitExceeded' }));
  });

  test('when a ticket type belongs to another event or currencies mix, then the order is invalid', () => {
    expect(() => quoteOrder('e1', [{ ticketTypeId: 'other', quantity: 1 }], catalogue)).toThrow(PricingError);
    expect(() =>
      quoteOrder(
        'e1',
        [
          { ticketTypeId: 'ga', quantity: 1 },
          { ticketTypeId: 'eur', quantity: 1 },
        ],
        catalogue,
      ),
    ).toThrow(expect.objectContaining({ type: 'InvalidOrder' }));
  });
});

describe('fees and ledger', () => {
  test('when a fee is taken, then it is 5% rounded half up plus 30, never more than the total', () => {
    expect(platformFee({ amountMinor: 5000, currency: 'USD' }).amountMinor).toBe(280);
    expect(platformFee({ amountMinor: 10, currency: 'USD' }).amountMinor).toBe(10);
    expect(platformFee({ amountMinor: 0, currency: 'USD' }).amountMinor).toBe(0);
    expect(platformFee({ amountMinor: 1010, currency: 'USD' }).amountMinor).toBe(81);
  });

  test('when a sale is posted or reversed, then every posting balances', () => {
    for (const amountMinor of [1, 99, 5000, 123457]) {
      const sale = saleLedgerLines({
        total: { amountMinor, currency: 'USD' },
        organizerId: 'o',
        provider: 'stripe',
      });
      expect(isBalanced(sale)).toBe(true);
      expect(isBalanced(reversalLedgerLines(sale))).toBe(true);
      expect(sale.every((line) => Number.isInteger(line.amountMinor))).toBe(true);
    }
  });
});
