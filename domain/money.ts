/** Money is always integer minor units plus an ISO 4217 currency code; never a float. */
export interface Money {
  amountMinor: number;
  currency: string;
}

/** True when the value is a safe, non-negative integer count of minor units. */
export function isMinorAmount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Multiplies a unit price by a quantity, refusing results that would lose integer precision. */
export function multiplyMinor(unitMinor: number, quantity: number): number {
  const total = unitMinor * quantity;
  if (!Number.isSafeInteger(total)) throw new RangeError(`amount ${unitMinor} x ${quantity} overflows`);
  return total;
}

/** Sums amounts of one currency; mixing currencies is a programming error, not a rounding question. */
export function sumMoney(parts: Money[], currency: string): Money {
  let amountMinor = 0;
  for (const part of parts) {
    if (part.currency !== currency) throw new RangeError(`cannot add ${part.currency} to ${currency}`);
    amountMinor += part.amountMinor;
  }
  if (!Number.isSafeInteger(amountMinor)) throw new RangeError('sum overflows');
  return { amountMinor, currency };
}

export const CURRENCY_PATTERN = /^[A-Z]{3}$/;
