import { createHmac } from 'node:crypto';
import { Webhook as CoinbaseWebhook } from 'coinbase-commerce-node';
import type { EventResource as CoinbaseEvent } from 'coinbase-commerce-node';
import Stripe from 'stripe';

/** Why a webhook was refused; the endpoint answers 400 for every one of them and records nothing. */
export type WebhookSignatureFailure =
  | 'missing_header'
  | 'malformed_header'
  | 'mismatch'
  | 'stale'
  | 'malformed_payload';

/**
 * A webhook whose signature does not prove it came from the provider. The message never contains the body
 * (buyer emails live there) nor the secret, so it is safe to log.
 */
export class WebhookSignatureError extends Error {
  override readonly name = 'WebhookSignatureError';

  constructor(
    readonly provider: 'stripe' | 'coinbase',
    readonly reason: WebhookSignatureFailure,
    message: string,
  ) {
    super(message);
  }
}

/** Stripe's own default: a signed event older than five minutes is treated as a replay. */
export const STRIPE_DEFAULT_TOLERANCE_SEC = 300;

/** Signs a payload the way Stripe does, giving a `Stripe-Signature` header value (`t=...,v1=...`). */
export function signStripePayload(
  payload: string,
  secret: string,
  timestampSec: number = Math.floor(Date.now() / 1000),
): string {
  if (!Number.isSafeInteger(timestampSec)) throw new RangeError('timestampSec must be whole seconds');
  const signature = createHmac('sha256', secret).update(`${timestampSec}.${payload}`, 'utf8').digest('hex');
  return `t=${timestampSec},v1=${signature}`;
}

/** Checks a `Stripe-Signature` header against the raw body with the Stripe SDK and returns the event. */
export function verifyStripeEvent(
  rawBody: Buffer | string,
  header: string | undefined,
  secret: string,
  toleranceSec: number = STRIPE_DEFAULT_TOLERANCE_SEC,
): Stripe.Event {
  // The SDK reads a tolerance of 0 as "use the default", so "no tolerance" cannot be expressed; refuse it
  // rather than silently accept five minutes.
  if (!(toleranceSec > 0)) throw new RangeError('toleranceSec must be positive');
  if (header === undefined || header.trim() === '') {
    throw new WebhookSignatureError('stripe', 'missing_header', 'Stripe-Signature header is missing');
  }
  try {
    return Stripe.webhooks.constructEvent(rawBody, header, secret, toleranceSec);
  } catch (err) {
    if (err instanceof Stripe.errors.StripeSignatureVerificationError) {
      throw new WebhookSignatureError(
        'stripe',
        classifyStripeFailure(err.message),
        stripeFailureText(err.message),
      );
    }
    // The signature was good but the body is not JSON: only a broken signer produces that.
    if (err instanceof SyntaxError) {
      throw new WebhookSignatureError('stripe', 'malformed_payload', 'signed Stripe payload is not JSON');
    }
    throw err;
  }
}

/** The SDK tells failures apart only by message; map the ones it documents and treat the rest as a mismatch. */
function classifyStripeFailure(message: string): WebhookSignatureFailure {
  if (/tolerance/i.test(message)) return 'stale';
  if (/unable to extract|expected scheme/i.test(message)) return 'malformed_header';
  if (/no webhook payload/i.test(message)) return 'malformed_payload';
  return 'mismatch';
}

/** First line of the SDK's message only: the rest is a docs link and advice meant for developers. */
function stripeFailureText(message: string): string {
  return `Stripe signature rejected: ${message.split('\n')[0]?.trim() ?? 'unknown reason'}`;
}

/** Signs a payload the way Coinbase Commerce does, giving an `X-CC-Webhook-Signature` header value. */
export function signCoinbasePayload(payload: string, secret: string): string {
  return createHmac('sha256', secret).update(payload, 'utf8').digest('hex');
}

/**
 * Checks an `X-CC-Webhook-Signature` header against the raw body with the Coinbase SDK and returns the event.
 * Coinbase signs no timestamp, so a replayed event cannot be told apart here: the endpoint's event-id
 * deduplication is what makes a replay harmless.
 */
export function verifyCoinbaseEvent(
  rawBody: Buffer | string,
  header: string | undefined,
  secret: string,
): CoinbaseEvent {
  if (header === undefined || header.trim() === '') {
    throw new WebhookSignatureError('coinbase', 'missing_header', 'X-CC-Webhook-Signature header is missing');
  }
  const payload = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
  // verifyEventBody parses the JSON before it checks the signature; checking first means an unsigned body is
  // always reported as unsigned, and nothing about it is parsed. The SDK's own errors quote the whole payload,
  // so they are replaced rather than passed on.
  try {
    CoinbaseWebhook.verifySigHeader(payload, header.trim(), secret);
  } catch {
    throw new WebhookSignatureError('coinbase', 'mismatch', 'Coinbase signature does not match the payload');
  }
  try {
    return CoinbaseWebhook.verifyEventBody(payload, header.trim(), secret);
  } catch {
    throw new WebhookSignatureError('coinbase', 'malformed_payload', 'signed Coinbase payload is not an event');
  }
}
