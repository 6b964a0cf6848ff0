import twilio from 'twilio';
import type { Sms, SmsMessage } from './ports';

/** Settings for the Twilio adapter; `apiBase` points it at a local peer in tests. */
export interface TwilioSmsOptions {
  accountSid: string;
  authToken: string;
  /** A sender number in E.164, or a Messaging Service sid (`MG...`) to let Twilio pick the sender. */
  from: string;
  apiBase?: string;
  /** Per-request timeout; the activity's own timeout is the outer bound. */
  timeoutMs?: number;
}

/**
 * A send that did not happen. `permanent` failures (invalid number, unsubscribed recipient, bad credentials)
 * will fail the same way on every retry, so the activity layer makes them non-retryable.
 */
export class SmsDeliveryError extends Error {
  override readonly name = 'SmsDeliveryError';
  readonly provider = 'twilio' as const;

  constructor(
    message: string,
    readonly permanent: boolean,
    /** HTTP status Twilio answered with, or null when no answer arrived. */
    readonly status: number | null,
    /** Twilio's own error code (e.g. 21211 invalid To), which names the cause more precisely than the status. */
    readonly providerCode: number | null = null,
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** Builds the real Sms over Twilio Programmable Messaging. */
export function createTwilioSms(options: TwilioSmsOptions): Sms {
  const client = twilio(options.accountSid, options.authToken, {
    timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    // Retries belong to the activity's retry policy, where they are visible and bounded.
    autoRetry: false,
    // TWILIO_LOG_LEVEL=debug would print numbers and message bodies; those must not reach the logs.
    logLevel: 'info',
  });
  // Every REST domain has a public base URL; only the `api` domain (Messages) is used here.
  if (options.apiBase) client.api.baseUrl = options.apiBase;
  const sender = options.from.startsWith('MG') ? { messagingServiceSid: options.from } : { from: options.from };

  return {
    provider: 'twilio',
    sandboxed: false,
    async send(message: SmsMessage) {
      try {
        const created = await client.messages.create({ to: message.to, body: message.body, ...sender });
        return { providerMessageId: created.sid ?? null };
      } catch (err) {
        throw classifyTwilioError(err);
      }
    },
  };
}

/** Turns whatever the SDK threw into an SmsDeliveryError that says whether a retry can help. */
function classifyTwilioError(err: unknown): SmsDeliveryError {
  if (err instanceof twilio.RestException) {
    const status = err.status;
    const transient = status === 408 || status === 429 || status >= 500;
    const code = typeof err.code === 'number' ? err.code : null;
    const detail = typeof err.message === 'string' && err.message !== '' ? `: ${redact(err.message)}` : '';
    return new SmsDeliveryError(
      `Twilio rejected the SMS with HTTP ${status}${code !== null ? ` (code ${code})` : ''}${detail}`.slice(
        0,
        400,
      ),
      !transient,
      status,
      code,
    );
  }
  const e = (err ?? {}) as { isAxiosError?: unknown; code?: unknown; message?: unknown };
  // No answer at all (refused, reset, timed out): a retry is the cure.
  if (e.isAxiosError === true) {
    const code = typeof e.code === 'string' ? e.code : 'network error';
    return new SmsDeliveryError(`Twilio could not be reached (${code})`, false, null);
  }
  // Thrown by the SDK before any request (e.g. a missing parameter): the same input fails again.
  const text = typeof e.message === 'string' ? redact(e.message) : 'unknown error';
  return new SmsDeliveryError(`Twilio request could not be built: ${text}`, true, null);
}

/** Twilio messages quote the offending number ("The 'To' number +1555... is not valid"); keep it out of logs. */
function redact(text: string): string {
  return text.replace(/\+?\d[\d\s().-]{5,}\d/g, '[number]');
}
