// Pure conversions between integer minor units and decimal strings. No Node imports: workflows import this.

/**
 * ISO 4217 currencies whose minor unit is not 1/100. Everything else has two decimal digits, which is what
 * ISO assigns to the large majority of currencies.
 */
const NON_DEFAULT_EXPONENTS: Readonly<Record<string, number>> = {
  // No minor unit.
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  UYI: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  // Thousandths.
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
  // Ten-thousandths (units of account).
  CLF: 4,
  UYW: 4,
};

const CURRENCY_CODE = /^[A-Z]{3}$/;
const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** Number of decimal digits in one major unit of an ISO 4217 currency (2 for USD, 0 for JPY, 3 for KWD). */
export function currencyExponent(currency: string): number {
  const code = currency.toUpperCase();
  if (!CURRENCY_CODE.test(code))
    throw new RangeError(`not an ISO 4217 currency code: ${JSON.stringify(currency)}`);
  return NON_DEFAULT_EXPONENTS[code] ?? 2;
}

/** Formats integer minor units as the decimal string providers expect: 5000 USD -> "50.00", 5000 JPY -> "5000". */
export function minorToDecimalString(amountMinor: number, currency: string): string {
  if (!Number.isSafeInteger(amountMinor)) {
    throw new RangeError(`amount must be a safe integer of minor units, got ${amountMinor}`);
  }
  const exponent = currencyExponent(currency);
  const sign = amountMinor < 0 ? '-' : '';
  // Work on the digits, never on a float, so 0.1 + 0.2 style drift cannot appear.
  const digits = String(Math.abs(amountMinor));
  if (exponent === 0) return sign + digits;
  const padded = digits.padStart(exponent + 1, '0');
  return `${sign}${padded.slice(0, -exponent)}.${padded.slice(-exponent)}`;
}

/**
 * Parses a provider's decimal string into integer minor units: "50.00" USD -> 5000, "1.5" KWD -> 1500.
 * Trailing zeros beyond the currency's precision are accepted; real extra precision is refused, not rounded.
 */
export function decimalStringToMinor(amount: string, currency: string): number {
  const exponent = currencyExponent(currency);
  const match = DECIMAL.exec(amount);
  if (!match) throw new RangeError(`not a decimal amount: ${JSON.stringify(amount)}`);
  const [, sign = '', whole = '', rawFraction = ''] = match;
  const fraction = rawFraction.replace(/0+$/, '');
  if (fraction.length > exponent) {
    throw new RangeError(`${amount} has more decimal digits than ${currency.toUpperCase()} allows (${exponent})`);
  }
  const minor = Number(whole + fraction.padEnd(exponent, '0'));
  if (!Number.isSafeInteger(minor)) throw new RangeError(`amount ${amount} is too large`);
  // Avoid returning -0 for "-0.00".
  return sign === '-' && minor !== 0 ? -minor : minor;
}
