/** Provider wiring: the one place real provider clients (or, outside production, their sandboxes) are built. */
import { sandboxedProviders, type Config } from '../config';
import type { Db } from '../db';
import type { CardPayments, CryptoPayments } from './payments/ports';
import { createSandboxCardPayments, createSandboxCryptoPayments } from './payments/sandbox';
import { createStripeCardPayments } from './payments/stripe-card';
import { createCoinbaseCryptoPayments } from './payments/coinbase-crypto';
import { createWebhookDelivery, noWebhookDelivery } from './payments/webhook-delivery';
import { createEthersMinter, type EthersMinter } from './nft/ethers-minter';
import type { Mailer, Sms } from './notifications/ports';
import { createSandboxMailer, createSandboxSms } from './notifications/sandbox';
import { createSendgridMailer } from './notifications/sendgrid-mailer';
import { createTwilioSms } from './notifications/twilio-sms';
import type { Payouts } from './payouts/ports';
import { createSandboxPayouts } from './payouts/sandbox';
import { createStripePayouts } from './payouts/stripe-transfers';

/**
 * Production never builds a sandbox, whoever calls: `loadConfig` already refuses such a configuration, and this
 * holds for a Config assembled any other way (a test, a script).
 */
function refuseSandboxInProduction(config: Config): void {
  if (config.NODE_ENV !== 'production') return;
  const sandboxed = sandboxedProviders(config);
  if (sandboxed.length > 0)
    throw new Error(`production must not run sandbox providers: ${sandboxed.join(', ')} have no keys configured`);
}

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
  refuseSandboxInProduction(config);
  const card = config.STRIPE_SECRET_KEY
    ? createStripeCardPayments({ secretKey: config.STRIPE_SECRET_KEY, apiBase: config.STRIPE_API_BASE })
    : createSandboxCardPayments(sandboxDeps);
  const crypto = config.COINBASE_API_KEY
    ? createCoinbaseCryptoPayments({ apiKey: config.COINBASE_API_KEY, apiBase: config.COINBASE_API_BASE })
    : createSandboxCryptoPayments(sandboxDeps);
  return { card, crypto };
}

/** The message providers this process talks to: SendGrid and Twilio when configured, outbox sandboxes otherwise. */
export interface NotificationProviders {
  mailer: Mailer;
  sms: Sms;
}

/** The one place real message clients are built. */
export function createNotificationProviders(config: Config, db: Db): NotificationProviders {
  refuseSandboxInProduction(config);
  const mailer = config.SENDGRID_API_KEY
    ? createSendgridMailer({
        apiKey: config.SENDGRID_API_KEY,
        from: config.SENDGRID_FROM,
        apiBase: config.SENDGRID_API_BASE,
      })
    : createSandboxMailer({ db });
  const sms =
    config.TWILIO_ACCOUNT_SID && config.TWILIO_AUTH_TOKEN
      ? createTwilioSms({
          accountSid: config.TWILIO_ACCOUNT_SID,
          authToken: config.TWILIO_AUTH_TOKEN,
          from: config.TWILIO_FROM,
          apiBase: config.TWILIO_API_BASE,
        })
      : createSandboxSms({ db });
  return { mailer, sms };
}

/**
 * The Minter on the configured chain, or null when no chain is configured (CHAIN_RPC_URL, NFT_CONTRACT_ADDRESS
 * and CHAIN_PRIVATE_KEY); `npm start` always configures its local anvil chain.
 */
export function createConfiguredMinter(config: Config): EthersMinter | null {
  if (!config.CHAIN_RPC_URL || !config.NFT_CONTRACT_ADDRESS || !config.CHAIN_PRIVATE_KEY) return null;
  return createEthersMinter({
    rpcUrl: config.CHAIN_RPC_URL,
    privateKey: config.CHAIN_PRIVATE_KEY,
    contractAddress: config.NFT_CONTRACT_ADDRESS,
  });
}

/** The one place the payouts provider is built: Stripe Connect transfers with a key, the sandbox without. */
export function createConfiguredPayouts(config: Config, db: Db): Payouts {
  refuseSandboxInProduction(config);
  return config.STRIPE_SECRET_KEY
    ? createStripePayouts({ secretKey: config.STRIPE_SECRET_KEY, apiBase: config.STRIPE_API_BASE })
    : createSandboxPayouts({ db });
}
