import express, { Router, type Request, type Response } from 'express';
import { minorToDecimalString } from '../../domain';
import type { CardIntent, CardPayments, CryptoCharge, CryptoPayments } from '../../providers/payments/ports';
import {
  SandboxNotFoundError,
  type CryptoOutcome,
  type SandboxCardPayments,
  type SandboxCryptoPayments,
  type ThreeDSecureOutcome,
} from '../../providers/payments/sandbox';
import type { PaymentProviders } from '../../providers';
import { problems } from '../problems';
import { ID_PATTERN } from '../validation';
import { z } from 'zod';
import { documentRoute } from '../openapi';

const THREE_DS_OUTCOMES: readonly ThreeDSecureOutcome[] = ['succeeded', 'failed'];
const CRYPTO_OUTCOMES: readonly CryptoOutcome[] = ['confirmed', 'failed', 'delayed', 'pending'];

/** Whether a card provider is the local sandbox, with its page-completion hook. */
export function isSandboxCard(card: CardPayments): card is SandboxCardPayments {
  return card.sandboxed && 'completeThreeDSecure' in card;
}

/** Whether a crypto provider is the local sandbox, with its page-completion hook. */
export function isSandboxCrypto(crypto: CryptoPayments): crypto is SandboxCryptoPayments {
  return crypto.sandboxed && 'completeCharge' in crypto;
}

/**
 * The sandbox providers' hosted pages, served by the API when no provider keys are configured: the 3-D Secure
 * challenge (`/sandbox/stripe/3ds/:intentId`) and the crypto checkout (`/sandbox/coinbase/charges/:code`). Each
 * page's buttons `POST <page>/complete` with a form field `outcome`; a JSON body works as well and gets the
 * payment's new state back. Outcomes reach the order the way real ones do: as signed webhooks.
 */
export function sandboxRoutes({ payments }: { payments: PaymentProviders }): Router {
  const router = Router();
  const body = [express.urlencoded({ extended: false, limit: '4kb' }), express.json({ limit: '4kb' })];
  const { card, crypto } = payments;

  if (isSandboxCard(card)) {
    documentRoute('get', '/sandbox/stripe/3ds/:intentId', {
      summary: 'Sandbox 3-D Secure challenge page (no provider keys configured)',
      responses: { 200: { html: 'buttons that complete or fail the challenge' } },
    });
    router.get('/sandbox/stripe/3ds/:intentId', async (req, res) => {
      const intent = await found(() => card.retrieve(param(req, 'intentId')), 'payment_intent');
      res.type('html').send(threeDSecurePage(intent));
    });
    documentRoute('post', '/sandbox/stripe/3ds/:intentId/complete', {
      summary: 'Complete or fail a sandbox 3-D Secure challenge; the outcome arrives as a signed webhook',
      form: z.object({ outcome: z.enum(THREE_DS_OUTCOMES as [ThreeDSecureOutcome, ...ThreeDSecureOutcome[]]) }),
      responses: {
        200: z.object({ id: z.string(), status: z.string() }).passthrough(),
        303: 'back to the page (form posts)',
      },
      problems: [422],
    });
    router.post('/sandbox/stripe/3ds/:intentId/complete', ...body, async (req, res) => {
      const intent = await found(() => card.retrieve(param(req, 'intentId')), 'payment_intent');
      const outcome = outcomeOf(req, THREE_DS_OUTCOMES);
      const after = await card.completeThreeDSecure(intent.id, outcome);
      answer(req, res, `/sandbox/stripe/3ds/${encodeURIComponent(after.id)}`, {
        id: after.id,
        object: 'payment_intent',
        status: after.status,
        declineCode: after.declineCode,
        orderId: after.orderId,
      });
    });
  }

  if (isSandboxCrypto(crypto)) {
    documentRoute('get', '/sandbox/coinbase/charges/:code', {
      summary: 'Sandbox crypto checkout page (no provider keys configured)',
      responses: { 200: { html: 'buttons that pay, pay late or let the charge expire' } },
    });
    router.get('/sandbox/coinbase/charges/:code', async (req, res) => {
      const charge = await found(() => crypto.retrieveCharge(param(req, 'code')), 'charge');
      res.type('html').send(cryptoPage(charge));
    });
    documentRoute('post', '/sandbox/coinbase/charges/:code/complete', {
      summary: 'Settle a sandbox crypto charge; the outcome arrives as a signed webhook',
      form: z.object({ outcome: z.enum(CRYPTO_OUTCOMES as [CryptoOutcome, ...CryptoOutcome[]]) }),
      responses: {
        200: z.object({ code: z.string(), status: z.string() }).passthrough(),
        303: 'back to the page (form posts)',
      },
      problems: [422],
    });
    router.post('/sandbox/coinbase/charges/:code/complete', ...body, async (req, res) => {
      const charge = await found(() => crypto.retrieveCharge(param(req, 'code')), 'charge');
      const outcome = outcomeOf(req, CRYPTO_OUTCOMES);
      const after = await crypto.completeCharge(charge.code, outcome);
      answer(req, res, `/sandbox/coinbase/charges/${encodeURIComponent(after.code)}`, {
        id: after.id,
        code: after.code,
        object: 'charge',
        status: after.status,
        orderId: after.orderId,
        expiresAt: after.expiresAt,
      });
    });
  }

  return router;
}

function param(req: Request, name: string): string {
  const value = String(req.params[name] ?? '');
  if (!ID_PATTERN.test(value)) throw problems.notFound(`sandbox object ${value.slice(0, 64)}`);
  return value;
}

/** Looks a sandbox object up; one that does not exist is a 404 problem. */
async function found<T>(lookup: () => Promise<T>, what: string): Promise<T> {
  try {
    return await lookup();
  } catch (err) {
    if (err instanceof SandboxNotFoundError) throw problems.notFound(what);
    throw err;
  }
}

function outcomeOf<T extends string>(req: Request, allowed: readonly T[]): T {
  const outcome: unknown = (req.body as Record<string, unknown> | undefined)?.outcome;
  if (typeof outcome === 'string' && (allowed as readonly string[]).includes(outcome)) return outcome as T;
  throw problems.validation([{ field: 'outcome', message: `must be one of ${allowed.join(', ')}` }]);
}

/** A form post from the page goes back to the page; an API caller gets the new state as JSON. */
function answer(req: Request, res: Response, page: string, state: Record<string, unknown>): void {
  if (req.is('application/x-www-form-urlencoded')) res.redirect(303, page);
  else res.json(state);
}

function threeDSecurePage(intent: CardIntent): string {
  const open = intent.status === 'requires_action';
  return page(
    'Sandbox 3-D Secure',
    `<p>Confirm a payment of <strong>${escapeHtml(amount(intent.amountMinor, intent.currency))}</strong>
      (PaymentIntent <code>${escapeHtml(intent.id)}</code>).</p>
     <p>Status: <strong id="status">${escapeHtml(intent.status)}</strong></p>
     ${
       open
         ? form(`/sandbox/stripe/3ds/${encodeURIComponent(intent.id)}/complete`, [
             ['succeeded', 'Complete authentication'],
             ['failed', 'Fail authentication'],
           ])
         : '<p>This challenge is over; you can close this page.</p>'
     }`,
  );
}

function cryptoPage(charge: CryptoCharge): string {
  const open = charge.status === 'NEW' || charge.status === 'SIGNED' || charge.status === 'PENDING';
  const lateOnly = charge.status === 'EXPIRED' || charge.status === 'CANCELED';
  const buttons: Array<[CryptoOutcome, string]> =
    charge.status === 'PENDING'
      ? [['confirmed', 'Confirm on chain']]
      : open
        ? [
            ['confirmed', 'Pay and confirm'],
            ['pending', 'Pay (seen, not yet confirmed)'],
            ['failed', 'Let the charge expire unpaid'],
            ['delayed', 'Pay late (after expiry)'],
          ]
        : lateOnly
          ? [['delayed', 'Pay late (after expiry)']]
          : [];
  return page(
    'Sandbox crypto checkout',
    `<p>Pay <strong>${escapeHtml(amount(charge.amountMinor, charge.currency))}</strong> in crypto
      (charge <code>${escapeHtml(charge.code)}</code>, expires ${escapeHtml(charge.expiresAt)}).</p>
     <p>Status: <strong id="status">${escapeHtml(charge.status)}</strong></p>
     ${
       buttons.length > 0
         ? form(`/sandbox/coinbase/charges/${encodeURIComponent(charge.code)}/complete`, buttons)
         : '<p>This charge is settled; you can close this page.</p>'
     }`,
  );
}

function form(action: string, buttons: Array<[string, string]>): string {
  return buttons
    .map(
      ([outcome, label]) =>
        `<form method="post" action="${escapeHtml(action)}"><input type="hidden" name="outcome" value="${escapeHtml(outcome)}"><button type="submit">${escapeHtml(label)}</button></form>`,
    )
    .join('\n');
}

function page(title: string, content: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}form{display:inline-block;margin:.25rem}button{padding:.5rem 1rem}</style>
</head><body><h1>${escapeHtml(title)}</h1>
<p><em>Bilten sandbox: no real money moves.</em></p>
${content}
</body></html>`;
}

function amount(minor: number, currency: string): string {
  return `${minorToDecimalString(minor, currency)} ${currency}`;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}
