// Sandbox Mailer and Sms: used when no SendGrid or Twilio keys are configured. Nothing leaves the machine; a
// "sent" message is its outbox row marked SENT with a sandbox message id, which `GET /dev/outbox` shows.
import { randomBytes } from 'node:crypto';
import type { Db } from '../../db';
import type { EmailMessage, Mailer, Sms, SmsMessage } from './ports';

/** Marks the outbox row as delivered by the sandbox; the row must exist (the activities write it first). */
async function deliverToOutbox(db: Db, messageId: string, prefix: string): Promise<{ providerMessageId: string }> {
  const providerMessageId = `${prefix}_${randomBytes(10).toString('hex')}`;
  const updated = await db('notifications').where({ id: messageId }).update({
    status: 'SENT',
    provider_message_id: providerMessageId,
    sent_at: db.fn.now(),
    updated_at: db.fn.now(),
  });
  if (updated !== 1) throw new Error(`sandbox: no outbox row ${messageId}`);
  return { providerMessageId };
}

/** A Mailer that keeps each email in the outbox instead of sending it. */
export function createSandboxMailer(deps: { db: Db }): Mailer {
  return {
    provider: 'sendgrid',
    sandboxed: true,
    send: (message: EmailMessage) => deliverToOutbox(deps.db, message.messageId, 'sbx_email'),
  };
}

/** An Sms that keeps each text in the outbox instead of sending it. */
export function createSandboxSms(deps: { db: Db }): Sms {
  return {
    provider: 'twilio',
    sandboxed: true,
    send: (message: SmsMessage) => deliverToOutbox(deps.db, message.messageId, 'sbx_sms'),
  };
}
