import { Client, resources } from 'coinbase-commerce-node';
import type { ChargeResource } from 'coinbase-commerce-node';
import { decimalStringToMinor, minorToDecimalString } from '../../domain/money-format';
import type { CryptoCharge, CryptoChargeStatus, CryptoPayments } from './ports';

/** Settings for the Coinbase Commerce adapter; `apiBase` points it at a local peer in tests. */
export interface CoinbaseCryptoPaymentsOptions {
  apiKey: string;
  /** Defaults to `https://api.commerce.coinbase.com/`. */
  apiBase?: string;
  /** Per-request timeout; the activity's own timeout is the outer bound. */
  timeoutMs?: number;
}

/** The API version this adapter's field mapping is written against; sent as X-CC-Version. */
export const COINBASE_API_VERSION = '2018-03-22';
const DEFAULT_API_BASE = 'https://api.commerce.coinbase.com/';
const DEFAULT_TIMEOUT_MS = 10_000;

const STATUSES = new Set<string>([
  'NEW',
  'SIGNED',
  'PENDING',
  'COMPLETED',
  'CONFIRMED',
  'EXPIRED',
  'UNRESOLVED',
  'RESOLVED',
  'CANCELED',
  'REFUND PENDING',
  'REFUNDED',
  'FAILED',
  'DELAYED',
] satisfies CryptoChargeStatus[]);

/** The parts of the SDK's (untyped) client instance this adapter uses. */
interface CoinbaseHttpClient {
  postHttp(
    path: string,
    data: object,
    callback: (error: unknown, response: { data?: { data?: unknown } }) => void,
  ): void;
}

/**
 * Builds the real CryptoPayments over Coinbase Commerce Charges. `createCharge` is not idempotent at Coinbase
 * (the API takes no idempotency key), so the caller records the charge id before it could ever retry.
 * Known SDK flaw (1.0.4): a response body that is not JSON (say an HTML 502 from a proxy) makes the SDK throw
 * inside its HTTP callback, an uncaught exception rather than a rejected promise; the successor adapter should
 * use its own HTTP client.
 */
export function createCoinbaseCryptoPayments(options: CoinbaseCryptoPaymentsOptions): CryptoPayments {
  // The SDK keeps one module-wide client and reads its settings while a request is built, synchronously, so
  // pointing the singleton at our settings right before every call is enough even beside another adapter.
  // The base must end in "/": the SDK appends "charges" to it as a plain string.
  const apiBase = withTrailingSlash(options.apiBase ?? DEFAULT_API_BASE);
  const client = (): CoinbaseHttpClient =>
    configureClient(options.apiKey, apiBase, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);

  const retrieveCharge = async (chargeId: string): Promise<CryptoCharge> => {
    client();
    return toCryptoCharge(await resources.Charge.retrieve(encodeURIComponent(chargeId)));
  };

  return {
    provider: 'coinbase',
    sandboxed: false,

    async createCharge(input) {
      const currency = input.currency.toUpperCase();
      client();
      const charge = await resources.Charge.create({
        // Coinbase shows the name as the hosted page's title and caps it at 100 characters.
        name: truncate(input.description, 100),
        description: truncate(input.description, 200),
        pricing_type: 'fixed_price',
        local_price: { amount: minorToDecimalString(input.amountMinor, currency), currency },
        metadata: { orderId: input.orderId },
        redirect_url: input.redirectUrl,
        // A buyer who gives up on the hosted page also comes back to the order, where its status is shown.
        cancel_url: input.redirectUrl,
      });
      return toCryptoCharge(charge);
    },

    retrieveCharge,

    async cancelCharge(chargeId) {
      try {
        // The SDK (1.0.4) has no cancel method, so its client posts to the documented cancel endpoint; the
        // request still carries the SDK's headers and its errors are the SDK's error classes.
        const data = await postToClient(client(), `charges/${encodeURIComponent(chargeId)}/cancel`);
        return toCryptoCharge(data as ChargeResource);
      } catch (err) {
        // Coinbase cancels only NEW charges and answers 400 otherwise; a charge that moved on (paid, expired,
        // already canceled) is returned as it is so the caller sees what happened to the money.
        if (httpStatusOf(err) !== 400) throw err;
        const current = await retrieveCharge(chargeId);
        if (current.status === 'NEW') throw err;
        return current;
      }
    },

    async listCharges({ from, to }) {
      client();
      // The SDK pages through every charge (the Charges API has no created filter); the window is applied here.
      const charges = await resources.Charge.all({ order: 'desc', limit: 100 });
      return charges
        .filter((c) => c.created_at >= from && c.created_at < to)
        .filter((c) => (c.timeline ?? []).some((t) => ['COMPLETED', 'DELAYED', 'RESOLVED'].includes(t.status)))
        .map((c) => {
          const charge = toCryptoCharge(c as ChargeResource);
          return {
            kind: 'charge' as const,
            provider: 'coinbase' as const,
            ref: charge.id,
            orderId: charge.orderId,
            chargeRef: null,
            payoutId: null,
            amountMinor: charge.amountMinor,
            currency: charge.currency,
            at: new Date(c.created_at).toISOString(),
          };
        });
    },
  };
}

/** Maps a Coinbase charge onto the platform's CryptoCharge; its status is the latest timeline entry. */
export function toCryptoCharge(charge: ChargeResource): CryptoCharge {
  const price =
    charge.pricing?.local ?? (charge as { local_price?: ChargeResource['pricing']['local'] }).local_price;
  if (!price) throw new Error(`Coinbase charge ${charge.id} has no local price`);
  const orderId: unknown = charge.metadata?.orderId;
  return {
    id: charge.id,
    code: charge.code,
    status: chargeStatus(charge),
    hostedUrl: charge.hosted_url,
    amountMinor: decimalStringToMinor(price.amount, price.currency),
    currency: price.currency.toUpperCase(),
    expiresAt: charge.expires_at,
    orderId: typeof orderId === 'string' && orderId !== '' ? orderId : null,
  };
}

/**
 * The charge's current status: the last timeline entry, which Coinbase appends in time order. A payment that
 * arrived after expiry shows as UNRESOLVED with context DELAYED, reported here as DELAYED so the platform need
 * not know the context field.
 */
function chargeStatus(charge: ChargeResource): CryptoChargeStatus {
  const timeline = Array.isArray(charge.timeline) ? charge.timeline : [];
  const last = timeline[timeline.length - 1];
  // Every charge Coinbase returns starts with NEW; an empty timeline can only mean the same.
  if (!last) return 'NEW';
  if (last.status === 'UNRESOLVED' && last.context === 'DELAYED') return 'DELAYED';
  const status: string = last.status;
  if (!STATUSES.has(status)) throw new Error(`unexpected Coinbase charge status ${status} on ${charge.id}`);
  return status as CryptoChargeStatus;
}

/** Module-wide: what the SDK's singleton client was last pointed at, so it is re-pointed only on change. */
let configuredFor: { apiKey: string; apiBase: string; timeoutMs: number } | null = null;

/** Points the SDK's singleton client at these settings and returns it. */
function configureClient(apiKey: string, apiBase: string, timeoutMs: number): CoinbaseHttpClient {
  const sdk = Client as unknown as {
    init(apiKey: string, baseApiUrl: string, apiVersion: string, timeout: number): CoinbaseHttpClient;
    getInstance(): CoinbaseHttpClient;
  };
  const current = configuredFor;
  // init() warns on every call with an http base, so it runs only when something changed.
  if (current && current.apiKey === apiKey && current.apiBase === apiBase && current.timeoutMs === timeoutMs) {
    return sdk.getInstance();
  }
  const instance = sdk.init(apiKey, apiBase, COINBASE_API_VERSION, timeoutMs);
  configuredFor = { apiKey, apiBase, timeoutMs };
  return instance;
}

/** POSTs an empty JSON object through the SDK's client and resolves with the response's `data`. */
function postToClient(client: CoinbaseHttpClient, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    client.postHttp(path, {}, (error, response) => {
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else resolve(response.data?.data);
    });
  });
}

/** The SDK's API errors carry the HTTP status as a numeric `code`; network errors carry a string one. */
function httpStatusOf(err: unknown): number | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : null;
}

function withTrailingSlash(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/** Cuts by code points, so an emoji is never split in half. */
function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, max).join('');
}
