import type { Config } from '../config';
import type { Db } from '../db';
import type { CardPayments, CryptoPayments } from '../providers/payments/ports';
import { createSandboxCardPayments, createSandboxCryptoPayments } from '../providers/payments/sandbox';
import { createStripeCardPayments } from '../providers/payments/stripe-card';
import { createCoinbaseCryptoPayments } from '../providers/payments/coinbase-crypto';
import { createWebhookDelivery, noWebhookDelivery } from '../providers/payments/webhook-delivery';

/** The payment providers this process talks to: real SDKs when keys are configured, sandboxes otherwise. */
export interface PaymentProviders {
  card: CardPayments;
  crypto: CryptoPayments;
}

/**
 * The one place real payment clients are built. `webhooks: false` is the benchmark's instant mode, where
 * the sandbox answers at once and sends no webhooks.
 */
export function createPaymentProviders(
  config: Config,
  db: Db,
  options: { webhooks?: boolean; log?: (line: string) => void } = {},
): PaymentProviders {
  const sandboxDeps = {
    db,
    publicBaseUrl: config.PUBLIC_BASE_URL,
    webhooks:
      options.webhooks === false ? noWebhookDelivery : createWebhookDelivery(config.PUBLIC_BASE_URL, options.log),
    stripeWebhookSecret: config.STRIPE_WEBHOOK_SECRET,
    coinbaseWebhookSecret: config.COINBASE_WEBHOOK_SECRET,
  };
  const card = config.STRIPE_SECRET_KEY
    ? createStripeCardPayments({ secretKey: config.STRIPE_SECRET_KEY, apiBase: config.STRIPE_API_BASE })
    : createSandboxCardPayments(sandboxDeps);
  const crypto = config.COINBASE_API_KEY
    ? createCoinbaseCryptoPayments({ apiKey: config.COINBASE_API_KEY, apiBase: config.COINBASE_API_BASE })
    : createSandboxCryptoPayments(sandboxDeps);
  return { card, crypto };
}
