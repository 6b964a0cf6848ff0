import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Context as ActivityContext } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createCheckoutActivities } from '../activities/checkout';
import { createNotificationActivities, type DeliverMessageResult } from '../activities/notifications';
import type { Db } from '../db';
import {
  checkoutWorkflowId,
  FailureType,
  MessageKind,
  messageWorkflowId,
  outboxMessageId,
  SearchAttributes,
  type CheckoutView,
  type SendMessageResult,
} from '../domain';
import { createNotificationProviders } from '../providers';
import type { EmailMessage, Mailer, Sms, SmsMessage } from '../providers/notifications/ports';
import { createSandboxMailer, createSandboxSms } from '../providers/notifications/sandbox';
import { createSendgridMailer, MailDeliveryError } from '../providers/notifications/sendgrid-mailer';
import { SmsDeliveryError } from '../providers/notifications/twilio-sms';
import { generateTicketCode } from '../tickets/signing';
import type { sendMessageWorkflow } from '../workflows/notifications';
import { createCatalogue, createTemporalEnv, testDb, uid, Worker, workerOptions } from './support/env';
import { recordHistory } from './support/histories';
import { checkoutInput } from './support/orders';
import { buyAs, call, startTestPlatform, type TestPlatform } from './support/platform';

const EventType = temporal.api.enums.v1.EventType;

let db: Db;
let checkout: ReturnType<typeof createCheckoutActivities>;

beforeAll(() => {
  db = testDb();
  checkout = createCheckoutActivities({
    db,
    maxOpenHoldsPerBuyer: 3,
    newTicketCode: generateTicketCode,
    newTicketId: () => uid('tkt'),
  });
});
afterAll(() => db.destroy());

/** A paid order with two tickets and a buyer who gave an email address and a phone number. */
async function paidOrder(): Promise<string> {
  const catalogue = await createCatalogue(db, { capacity: 10 });
  const order = {
    ...checkoutInput(catalogue, { quantity: 2 }),
    contact: { email: 'buyer@example.com', phone: '+15555550100' },
  };
  await checkout.reserveSeats({ order, expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
  await checkout.issueTickets({ orderId: order.orderId });
  return order.orderId;
}

const notifications = (ports: { mailer?: Mailer; sms?: Sms }) =>
  createNotificationActivities({
    db,
    mailer: ports.mailer ?? createSandboxMailer({ db }),
    sms: ports.sms ?? createSandboxSms({ db }),
    emailTemplates: { [MessageKind.OrderConfirmed]: 'd-order-confirmed' },
    publicBaseUrl: 'http://bilten.test',
  });

const confirmation = (orderId: string) => ({ kind: MessageKind.OrderConfirmed, key: orderId, orderId });
const emailId = (orderId: string) => outboxMessageId(MessageKind.OrderConfirmed, orderId, 'EMAIL');
const smsId = (orderId: string) => outboxMessageId(MessageKind.OrderConfirmed, orderId, 'SMS');
const row = (id: string) => db('notifications').where({ id }).first();

/** A mailer that counts sends and does whatever the test says on each one. */
function scriptedMailer(script: Array<(m: EmailMessage) => Promise<{ providerMessageId: string | null }>>) {
  const sent: EmailMessage[] = [];
  const mailer: Mailer = {
    provider: 'sendgrid',
    sandboxed: false,
    send: (m) => {
      sent.push(m);
      const step = script[Math.min(sent.length, script.length) - 1]!;
      return step(m);
    },
  };
  return { mailer, sent };
}

/** A stand-in for api.sendgrid.com that takes every email, but answers only after `delayMs`. */
async function slowSendgrid(delayMs: number) {
  const received: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(Buffer.concat(chunks).toString('utf8'));
      setTimeout(() => {
        if (!res.destroyed) res.writeHead(202, { 'x-message-id': `sg_${received.length}` }).end();
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('order confirmation outbox', () => {
  test('when an order confirmation is prepared twice, then there is one row per channel with the tickets in it', async () => {
    const orderId = await paidOrder();
    const activities = notifications({});

    const first = await activities.prepareMessages(confirmation(orderId));
    const again = await activities.prepareMessages(confirmation(orderId));

    expect(first.messages).toEqual([
      { messageId: emailId(orderId), channel: 'EMAIL' },
      { messageId: smsId(orderId), channel: 'SMS' },
    ]);
    expect(again).toEqual(first);
    const rows = await db('notifications').where({ order_id: orderId }).orderBy('id');
    expect(rows).toHaveLength(2);
    const email = rows.find((r) => r.channel === 'EMAIL');
    expect(email).toMatchObject({ recipient: 'buyer@example.com', status: 'PENDING', kind: 'order-confirmed' });
    expect(email.payload).toMatchObject({ orderId, eventName: 'Test Event', total: '50.00 USD' });
    expect(email.payload.tickets).toHaveLength(2);
    const sms = rows.find((r) => r.channel === 'SMS');
    for (const ticket of email.payload.tickets as Array<{ code: string }>) {
      expect(sms.payload.text).toContain(ticket.code);
    }
  });

  test('when the sandbox sends a message twice, then the outbox shows it SENT once with a sandbox id', async () => {
    const orderId = await paidOrder();
    const activities = notifications({});
    await activities.prepareMessages(confirmation(orderId));

    expect(await activities.deliverMessage({ messageId: emailId(orderId) })).toEqual({
      messageId: emailId(orderId),
      status: 'SENT',
    });
    const sent = await row(emailId(orderId));
    expect(await activities.deliverMessage({ messageId: emailId(orderId) })).toMatchObject({ status: 'SENT' });

    expect(await row(emailId(orderId))).toMatchObject({
      status: 'SENT',
      attempts: 1,
      provider_message_id: sent.provider_message_id,
    });
    expect(sent.provider_message_id).toMatch(/^sbx_email_/);
  });
});

describe('at most once delivery', () => {
  test('when SendGrid takes an email but answers after the timeout and the send is retried, then it is sent once', async () => {
    const orderId = await paidOrder();
    const sendgrid = await slowSendgrid(1_500);
    try {
      const mailer = createSendgridMailer({
        apiKey: 'SG.test-key',
        from: 'tickets@bilten.dev',
        apiBase: sendgrid.baseUrl,
        timeoutMs: 200,
      });
      const activities = notifications({ mailer });
      await activities.prepareMessages(confirmation(orderId));

      const first = await activities.deliverMessage({ messageId: emailId(orderId) });
      const retry = await activities.deliverMessage({ messageId: emailId(orderId) });

      expect(first.status).toBe('UNCONFIRMED');
      expect(retry.status).toBe('UNCONFIRMED');
      expect(sendgrid.received).toHaveLength(1);
      expect(JSON.parse(sendgrid.received[0]!)).toMatchObject({
        template_id: 'd-order-confirmed',
        personalizations: [{ to: [{ email: 'buyer@example.com' }] }],
      });
      expect(await row(emailId(orderId))).toMatchObject({ status: 'UNCONFIRMED', attempts: 1 });
    } finally {
      await sendgrid.close();
    }
  });

  test('when the provider answers 503, then the row is released and the retry sends it', async () => {
    const orderId = await paidOrder();
    const { mailer, sent } = scriptedMailer([
      () => Promise.reject(new MailDeliveryError('SendGrid rejected the email with HTTP 503', false, 503, 2_000)),
      () => Promise.resolve({ providerMessageId: 'sg_ok' }),
    ]);
    const activities = notifications({ mailer });
    await activities.prepareMessages(confirmation(orderId));

    const failure = await activities.deliverMessage({ messageId: emailId(orderId) }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ nonRetryable: false, nextRetryDelay: 2_000 });
    expect(await row(emailId(orderId))).toMatchObject({ status: 'PENDING', attempts: 1 });

    expect(await activities.deliverMessage({ messageId: emailId(orderId) })).toMatchObject({ status: 'SENT' });
    expect(sent).toHaveLength(2);
    expect(await row(emailId(orderId))).toMatchObject({
      status: 'SENT',
      attempts: 2,
      provider_message_id: 'sg_ok',
    });
  });

  test('when the provider refuses a message for good, then the row is FAILED, no retry follows and the order stays PAID', async () => {
    const orderId = await paidOrder();
    const sms: Sms = {
      provider: 'twilio',
      sandboxed: false,
      send: (_m: SmsMessage) =>
        Promise.reject(
          new SmsDeliveryError('Twilio rejected the SMS with HTTP 400 (code 21211)', true, 400, 21211),
        ),
    };
    const activities = notifications({ sms });
    await activities.prepareMessages(confirmation(orderId));

    await expect(activities.deliverMessage({ messageId: smsId(orderId) })).rejects.toMatchObject({
      nonRetryable: true,
      type: FailureType.MessageRejected,
    });
    expect(await row(smsId(orderId))).toMatchObject({
      status: 'FAILED',
      last_error: expect.stringContaining('21211'),
    });
    expect(await activities.deliverMessage({ messageId: smsId(orderId) })).toMatchObject({ status: 'FAILED' });
    expect(await db('orders').where({ id: orderId }).first('status')).toEqual({ status: 'PAID' });
  });
});

describe('sending a message in one activity', () => {
  test('when SMS is refused for good and email goes, then the result says so and the call does not fail', async () => {
    const orderId = await paidOrder();
    const sms: Sms = {
      provider: 'twilio',
      sandboxed: false,
      send: () => Promise.reject(new SmsDeliveryError('Twilio rejected the SMS with HTTP 400', true, 400, 21211)),
    };
    const activities = notifications({ sms });

    expect(await activities.sendMessage(confirmation(orderId))).toEqual({ EMAIL: 'SENT', SMS: 'FAILED' });
    expect(await activities.sendMessage(confirmation(orderId))).toEqual({ EMAIL: 'SENT', SMS: 'FAILED' });
    expect(await row(emailId(orderId))).toMatchObject({ status: 'SENT', attempts: 1 });
    expect(await row(smsId(orderId))).toMatchObject({ status: 'FAILED', attempts: 1 });
  });

  test('when email cannot be delivered yet, then the SMS is sent, the call fails for a retry, and the retry sends only the email', async () => {
    const orderId = await paidOrder();
    const { mailer, sent } = scriptedMailer([
      () => Promise.reject(new MailDeliveryError('SendGrid rejected the email with HTTP 503', false, 503, null)),
      () => Promise.resolve({ providerMessageId: 'sg_ok' }),
    ]);
    const activities = notifications({ mailer });

    await expect(activities.sendMessage(confirmation(orderId))).rejects.toMatchObject({ nonRetryable: false });
    expect(await row(smsId(orderId))).toMatchObject({ status: 'SENT', attempts: 1 });
    expect(await activities.sendMessage(confirmation(orderId))).toEqual({ EMAIL: 'SENT', SMS: 'SENT' });
    expect(sent).toHaveLength(2);
    expect(await row(emailId(orderId))).toMatchObject({ status: 'SENT', attempts: 2 });
    expect(await row(smsId(orderId))).toMatchObject({ status: 'SENT', attempts: 1 });
  });
});

describe('sendMessageWorkflow', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await createTemporalEnv();
  }, 120_000);
  afterAll(() => env?.teardown());

  test('when email fails once and SMS is refused for good, then the email is retried and sent once, and the workflow completes', async () => {
    const orderId = await paidOrder();
    const { mailer, sent } = scriptedMailer([
      () => Promise.reject(new MailDeliveryError('SendGrid could not be reached (ECONNREFUSED)', false, null)),
      () => Promise.resolve({ providerMessageId: 'sg_ok' }),
    ]);
    const sms: Sms = {
      provider: 'twilio',
      sandboxed: false,
      send: () => Promise.reject(new SmsDeliveryError('Twilio rejected the SMS with HTTP 400', true, 400, 21211)),
    };
    const taskQueue = uid('notifications-test');
    const worker = await Worker.create({
      ...workerOptions(env, taskQueue),
      activities: notifications({ mailer, sms }),
    });

    const result: SendMessageResult = await worker.runUntil(
      env.client.workflow.execute<typeof sendMessageWorkflow>('sendMessageWorkflow', {
        workflowId: messageWorkflowId(MessageKind.OrderConfirmed, orderId),
        taskQueue,
        args: [confirmation(orderId)],
      }),
    );

    expect(result).toEqual({ EMAIL: 'SENT', SMS: 'FAILED' });
    expect(sent).toHaveLength(2);
    expect(await row(emailId(orderId))).toMatchObject({ status: 'SENT', attempts: 2 });
    expect(await row(smsId(orderId))).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(await db('orders').where({ id: orderId }).first('status')).toEqual({ status: 'PAID' });
  });

  test('when an attempt hangs past its timeout and Temporal retries it, then the second attempt runs and does not send again', async () => {
    const orderId = await paidOrder();
    let answer!: (r: { providerMessageId: string }) => void;
    const { mailer, sent } = scriptedMailer([() => new Promise((resolve) => (answer = resolve))]);
    const real = notifications({ mailer });
    await real.prepareMessages(confirmation(orderId));
    // The attempt numbers Temporal gave each run of the activity, as the activity itself sees them.
    const attempts: number[] = [];
    const taskQueue = uid('delivery-retry-test');
    const worker = await Worker.create({
      ...workerOptions(env, taskQueue),
      workflowsPath: require.resolve('./workflows/delivery'),
      activities: {
        deliverMessage: (input: { messageId: string }) => {
          attempts.push(ActivityContext.current().info.attempt);
          return real.deliverMessage(input);
        },
      },
    });

    const { result, history } = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('deliverWithShortTimeoutWorkflow', {
        workflowId: uid('delivery-retry'),
        taskQueue,
        args: [emailId(orderId)],
      });
      const result: DeliverMessageResult = await handle.result();
      // The hung first attempt comes back only now, long after Temporal gave up on it.
      answer({ providerMessageId: 'sg_late' });
      await new Promise((r) => setTimeout(r, 200));
      return { result, history: await handle.fetchHistory() };
    });

    expect(attempts).toEqual([1, 2]);
    const started = history.events!.filter((e) => e.activityTaskStartedEventAttributes);
    expect(started.map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([2]);
    expect(result).toMatchObject({ status: 'UNCONFIRMED' });
    expect(sent).toHaveLength(1);
    expect(await row(emailId(orderId))).toMatchObject({ status: 'SENT', provider_message_id: 'sg_late' });
  });
});

describe('order confirmation sent by the checkout', () => {
  /** A mailer that can never reach SendGrid: every send fails before the request leaves, so a retry may send. */
  const unreachableMailer: Mailer = {
    provider: 'sendgrid',
    sandboxed: false,
    send: () => Promise.reject(new MailDeliveryError('SendGrid could not be reached (ECONNREFUSED)', false, null)),
  };
  let platform: TestPlatform;
  let catalogue: Awaited<ReturnType<typeof createCatalogue>>;
  let mailerDown = false;
  beforeAll(async () => {
    platform = await startTestPlatform(
      {},
      {
        messages: (config, db) => {
          const real = createNotificationProviders(config, db);
          return {
            ...real,
            mailer: { ...real.mailer, send: (m) => (mailerDown ? unreachableMailer : real.mailer).send(m) },
          };
        },
      },
    );
    catalogue = await createCatalogue(platform.db, { capacity: 50 });
  }, 120_000);
  afterAll(() => platform?.stop());

  /** Pays for one ticket by card as a buyer who gave an email address and a phone number. */
  async function payByCard() {
    const res = await buyAs(platform, {
      eventId: catalogue.eventId,
      ticketTypeId: catalogue.ticketTypeId,
      quantity: 1,
      buyer: { email: 'buyer@example.com', phone: '+15555550100' },
    });
    const orderId: string = res.body.orderId;
    const handle = platform.client.workflow.getHandle(checkoutWorkflowId(orderId));
    return { res, orderId, handle, final: (await handle.result()) as CheckoutView };
  }

  /** The checkout's history as one event type per workflow task, in order: where each thing happened. */
  async function tasksOf(handle: WorkflowHandle): Promise<string[][]> {
    const tasks: string[][] = [[]];
    for (const event of (await handle.fetchHistory()).events ?? []) {
      const type = EventType[event.eventType ?? 0] ?? '';
      if (type === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED') tasks.push([]);
      // A local activity's marker names it in its `data` detail, plain JSON written by the SDK's core.
      const data = event.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
      const activity = data
        ? (JSON.parse(Buffer.from(data).toString()) as { activity_type?: string }).activity_type
        : undefined;
      tasks.at(-1)!.push(activity ? `local:${activity}` : type.replace('EVENT_TYPE_', ''));
    }
    return tasks;
  }

  test('when a buyer pays by card, then the checkout sends the confirmation by email and SMS once, after answering the buyer, and starts no message workflow', async () => {
    const { res, orderId, handle, final } = await payByCard();
    await recordHistory('checkout-inline-confirmation-api-card-paid', handle);

    expect(res.status).toBe(201);
    expect(res.body.status).toBe('PAID');
    expect(final.status).toBe('PAID');
    const rows = await platform.db('notifications').where({ order_id: orderId }).orderBy('channel');
    expect(rows.map((r) => [r.channel, r.status, r.attempts])).toEqual([
      ['EMAIL', 'SENT', 1],
      ['SMS', 'SENT', 1],
    ]);
    await expect(
      platform.client.workflow.getHandle(messageWorkflowId(MessageKind.OrderConfirmed, orderId)).describe(),
    ).rejects.toThrow(WorkflowNotFoundError);
    // The buyer's answer (the placement update) left with an earlier workflow task than the one that sent.
    const tasks = await tasksOf(handle);
    const answered = tasks.findIndex((t) => t.includes('WORKFLOW_EXECUTION_UPDATE_COMPLETED'));
    const sent = tasks.findIndex((t) => t.includes('local:sendMessage'));
    expect(answered).toBeGreaterThanOrEqual(0);
    expect(sent).toBeGreaterThan(answered);
    expect(tasks.flat().filter((e) => e === 'local:sendMessage')).toHaveLength(1);

    // Support finds how the confirmation ended on the order itself; the buyer's view does not carry it.
    const asSupport = await call(platform, 'GET', `/v1/checkouts/${orderId}`, {
      token: platform.token({ sub: 'support-1', role: 'support' }),
    });
    expect(asSupport.body.messages).toEqual([
      expect.objectContaining({ kind: 'order-confirmed', channel: 'EMAIL', status: 'SENT', attempts: 1 }),
      expect.objectContaining({ kind: 'order-confirmed', channel: 'SMS', status: 'SENT', attempts: 1 }),
    ]);
    expect(JSON.stringify(asSupport.body.messages)).not.toContain('buyer@example.com');
  });

  test('when the mail provider cannot be reached, then the order is PAID, the SMS goes once, and the message workflow takes over the email', async () => {
    mailerDown = true;
    try {
      const { res, orderId, handle, final } = await payByCard();
      await recordHistory('checkout-inline-confirmation-api-mail-down-fallback', handle);

      expect(res.status).toBe(201);
      expect(res.body.status).toBe('PAID');
      expect(final.status).toBe('PAID');
      const confirmation = platform.client.workflow.getHandle(
        messageWorkflowId(MessageKind.OrderConfirmed, orderId),
      );
      const described = await confirmation.describe();
      expect(described.parentExecution?.workflowId).toBe(checkoutWorkflowId(orderId));
      expect(described.typedSearchAttributes.get(SearchAttributes.OrderId)).toBe(orderId);
      // The message workflow retries the email for a day; the SMS the checkout sent is not sent again.
      for (let i = 0; i < 50; i++) {
        const email = await platform
          .db('notifications')
          .where({ id: emailId(orderId) })
          .first();
        if (email.attempts > 3) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      await confirmation.terminate('test over');
      expect(await row(emailId(orderId))).toMatchObject({ status: 'PENDING', attempts: 4 });
      expect(await row(smsId(orderId))).toMatchObject({ status: 'SENT', attempts: 1 });
      const tasks = await tasksOf(handle);
      const answered = tasks.findIndex((t) => t.includes('WORKFLOW_EXECUTION_UPDATE_COMPLETED'));
      expect(tasks.findIndex((t) => t.includes('local:sendMessage'))).toBeGreaterThan(answered);
    } finally {
      mailerDown = false;
    }
  });
});
