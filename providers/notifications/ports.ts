/** One email, identified by the platform's own message id (the outbox row), so a retry can be recognised. */
export interface EmailMessage {
  messageId: string;
  to: string;
  templateId: string;
  data: Record<string, unknown>;
}

/** Sends email. Implemented over SendGrid dynamic templates, and by a sandbox that only keeps the message. */
export interface Mailer {
  readonly provider: 'sendgrid';
  readonly sandboxed: boolean;
  send(message: EmailMessage): Promise<{ providerMessageId: string | null }>;
}

/** One SMS, identified by the platform's own message id. */
export interface SmsMessage {
  messageId: string;
  to: string;
  body: string;
}

/** Sends SMS. Implemented over Twilio Messages, and by a sandbox that only keeps the message. */
export interface Sms {
  readonly provider: 'twilio';
  readonly sandboxed: boolean;
  send(message: SmsMessage): Promise<{ providerMessageId: string | null }>;
}
