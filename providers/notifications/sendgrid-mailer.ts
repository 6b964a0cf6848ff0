import { Client } from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';
import type { EmailMessage, Mailer } from './ports';

/**
 * Name of the custom arg that carries the platform's message id. SendGrid copies custom args onto every
 * event it posts back (delivered, bounce, ...), so the outbox row can be found again from an event.
 */
export const SENDGRID_MESSAGE_ID_ARG = 'bilten_message_id';

/** Settings for the SendGrid adapter; `apiBase` points it at a local peer in tests. */
export interface SendgridMailerOptions {
  apiKey: string;
  /** Sender address, `tickets@example.com` or `Bilten <tickets@example.com>`. */
  from: string;
  apiBase?: string;
  /** Per-request timeout; the activity's own timeout is the outer bound. */
  timeoutMs?: number;
}

/**
 * A send that did not happen. `permanent` failures (bad request, bad key, unknown template) will fail the
 * same way on every retry, so the activity layer makes them non-retryable; the rest are worth retrying.
 */
export class MailDeliveryError extends Error {
  override readonly name = 'MailDeliveryError';
  readonly provider = 'sendgrid' as const;

  constructor(
    message: string,
    readonly permanent: boolean,
    /** HTTP status SendGrid answered with, or null when no answer arrived. */
    readonly status: number | null,
    /** From Retry-After on 429/503, so a retry policy can wait as long as SendGrid asked. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** Builds the real Mailer over SendGrid dynamic templates. */
export function createSendgridMailer(options: SendgridMailerOptions): Mailer {
  // A client of our own, not the module-wide singleton, so two mailers (or a test and the app) never share
  // a key or a base URL.
  const client = new Client();
  client.setApiKey(options.apiKey);
  // setApiKey resets the base URL to the default region, so the override must come after it.
  if (options.apiBase) client.setDefaultRequest('baseUrl', options.apiBase);
  const service = new MailService();
  service.setClient(client);
  service.setTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);

  return {
    provider: 'sendgrid',
    sandboxed: false,
    async send(message: EmailMessage) {
      try {
        const [response] = await service.send({
          from: options.from,
          to: message.to,
          templateId: message.templateId,
          dynamicTemplateData: message.data,
          customArgs: { [SENDGRID_MESSAGE_ID_ARG]: message.messageId },
        });
        const header: unknown = (response.headers as Record<string, unknown> | undefined)?.['x-message-id'];
        return { providerMessageId: typeof header === 'string' && header !== '' ? header : null };
      } catch (err) {
        throw classifySendgridError(err);
      }
    },
  };
}

/** Turns whatever the SDK threw into a MailDeliveryError that says whether a retry can help. */
function classifySendgridError(err: unknown): MailDeliveryError {
  const e = (err ?? {}) as {
    code?: unknown;
    message?: unknown;
    isAxiosError?: unknown;
    response?: { headers?: Record<string, unknown>; body?: unknown };
  };
  // ResponseError: SendGrid answered with a 4xx/5xx; `code` is the HTTP status.
  if (typeof e.code === 'number' && e.response !== undefined) {
    const status = e.code;
    const transient = status === 408 || status === 429 || status >= 500;
    const detail = firstErrorMessage(e.response.body);
    return new MailDeliveryError(
      `SendGrid rejected the email with HTTP ${status}${detail ? `: ${detail}` : ''}`,
      !transient,
      status,
      transient ? retryAfterMs(e.response.headers?.['retry-after']) : null,
    );
  }
  // No answer at all (refused, reset, timed out): the email may or may not have left, and a retry is the cure.
  if (e.isAxiosError === true) {
    const code = typeof e.code === 'string' ? e.code : 'network error';
    return new MailDeliveryError(`SendGrid could not be reached (${code})`, false, null);
  }
  // Thrown by the SDK before any request (e.g. a message it cannot build): the same input fails again.
  const text = typeof e.message === 'string' ? redact(e.message) : 'unknown error';
  return new MailDeliveryError(`SendGrid request could not be built: ${text}`, true, null);
}

/** SendGrid puts its reasons in `{ errors: [{ message, field }] }`; the first one is enough for an operator. */
function firstErrorMessage(body: unknown): string | null {
  const errors = (body as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return null;
  const first = errors[0] as { message?: unknown; field?: unknown };
  if (typeof first.message !== 'string') return null;
  const field = typeof first.field === 'string' ? ` (${first.field})` : '';
  return redact(first.message + field).slice(0, 300);
}

/** Retry-After is either seconds or an HTTP date. */
function retryAfterMs(value: unknown): number | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

/** Provider messages sometimes echo the recipient back; error messages end up in logs and workflow history. */
function redact(text: string): string {
  return text.replace(/[^\s@<>"']+@[^\s@<>"']+/g, '[email]');
}
