import { currencyExponent, decimalStringToMinor, minorToDecimalString } from '../domain/money-format';

describe('money format', () => {
  it('when a currency has cents, then minor units print with two decimals', () => {
    expect(minorToDecimalString(5000, 'USD')).toBe('50.00');
    expect(minorToDecimalString(5, 'EUR')).toBe('0.05');
    expect(minorToDecimalString(0, 'GBP')).toBe('0.00');
    expect(minorToDecimalString(123456789, 'usd')).toBe('1234567.89');
  });

  it('when a currency has no minor unit, then the amount prints as a whole number', () => {
    expect(currencyExponent('JPY')).toBe(0);
    expect(minorToDecimalString(5000, 'JPY')).toBe('5000');
    expect(minorToDecimalString(7, 'KRW')).toBe('7');
  });

  it('when a currency has three decimals, then thousandths print exactly', () => {
    expect(currencyExponent('KWD')).toBe(3);
    expect(minorToDecimalString(1234, 'KWD')).toBe('1.234');
    expect(minorToDecimalString(5, 'BHD')).toBe('0.005');
  });

  it('when an amount is negative, then the sign stays in front', () => {
    expect(minorToDecimalString(-5, 'USD')).toBe('-0.05');
    expect(decimalStringToMinor('-0.05', 'USD')).toBe(-5);
    expect(Object.is(decimalStringToMinor('-0.00', 'USD'), 0)).toBe(true);
  });

  it('when a provider sends a decimal string, then it parses back to the same minor units', () => {
    expect(decimalStringToMinor('50.00', 'USD')).toBe(5000);
    expect(decimalStringToMinor('50', 'USD')).toBe(5000);
    expect(decimalStringToMinor('50.5', 'USD')).toBe(5050);
    expect(decimalStringToMinor('0.07', 'USD')).toBe(7);
    expect(decimalStringToMinor('5000', 'JPY')).toBe(5000);
    expect(decimalStringToMinor('5000.00', 'JPY')).toBe(5000);
    expect(decimalStringToMinor('1.5', 'KWD')).toBe(1500);
    expect(decimalStringToMinor('1.234', 'KWD')).toBe(1234);
  });

  it('when amounts make a round trip, then nothing drifts, even where floats would', () => {
    for (const [minor, currency] of [
      [1, 'USD'],
      [10, 'USD'],
      [29, 'USD'],
      [1005, 'USD'],
      [999_999_999_999, 'USD'],
      [Number.MAX_SAFE_INTEGER, 'USD'],
      [1, 'JPY'],
      [1001, 'KWD'],
      [1, 'CLF'],
    ] as const) {
      expect(decimalStringToMinor(minorToDecimalString(minor, currency), currency)).toBe(minor);
    }
    // 0.29 * 100 is 28.999999999999996 in floating point.
    expect(decimalStringToMinor('0.29', 'USD')).toBe(29);
  });

  it('when a string has more precision than the currency, then it is refused rather than rounded', () => {
    expect(() => decimalStringToMinor('0.001', 'USD')).toThrow(RangeError);
    expect(() => decimalStringToMinor('1.5', 'JPY')).toThrow(RangeError);
    expect(() => decimalStringToMinor('0.0001', 'KWD')).toThrow(RangeError);
  });

  it('when input is not a plain decimal or not a currency code, then it is refused', () => {
    for (const bad of ['', '1e3', '.5', '5.', '+5', ' 5', '5,00', 'NaN', '0x10']) {
      expect(() => decimalStringToMinor(bad, 'USD')).toThrow(RangeError);
    }
    expect(() => decimalStringToMinor('99999999999999999', 'USD')).toThrow(RangeError);
    expect(() => minorToDecimalString(1.5, 'USD')).toThrow(RangeError);
    expect(() => minorToDecimalString(Number.MAX_SAFE_INTEGER + 1, 'USD')).toThrow(RangeError);
    expect(() => minorToDecimalString(100, 'US')).toThrow(RangeError);
    expect(() => currencyExponent('US$')).toThrow(RangeError);
  });
});
