import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { rewardRules, type Config } from '../config';
import type { Db } from '../db';
import { createCheckoutActivities } from '../activities/checkout';
import { createPaymentActivities } from '../activities/payments';
import { createRefundActivities } from '../activities/refunds';
import { createNftActivities } from '../activities/nft';
import { createNotificationActivities } from '../activities/notifications';
import { createPayoutActivities } from '../activities/payouts';
import { createReconciliationActivities } from '../activities/reconciliation';
import { createRewardActivities } from '../activities/rewards';
import {
  createHoldSweeperActivities,
  createScheduledPayoutActivities,
  type WorkflowDirectory,
} from '../activities/schedules';
import { MessageKind, RefundMessageKind } from '../domain';
import type { Payouts } from '../providers/payouts/ports';
import type { Minter } from '../providers/nft/ports';
import { configuredTicketSigner } from '../tickets/configured-signer';
import { generateTicketCode } from '../tickets/signing';
import type { NotificationProviders, PaymentProviders } from '../providers';

/** The hold sweeper's view of Temporal: whether a workflow runs, over a client. */
export function temporalWorkflowDirectory(client: Client): WorkflowDirectory {
  return {
    presence: async (workflowId) => {
      try {
        const { status } = await client.workflow.getHandle(workflowId).describe();
        return status.name === 'RUNNING' ? 'RUNNING' : 'CLOSED';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return 'NOT_FOUND';
        throw err;
      }
    },
  };
}

/** Everything the checkout task queue's activities need, built from real clients. */
export function createCheckoutQueueActivities(
  config: Config,
  db: Db,
  providers: PaymentProviders,
  temporal: Client,
  messages: NotificationProviders,
) {
  const signer = configuredTicketSigner(config);
  const checkout = createCheckoutActivities({
    db,
    maxOpenHoldsPerBuyer: config.MAX_OPEN_HOLDS_PER_BUYER,
    maxTicketsPerBuyerPerEvent: config.MAX_TICKETS_PER_BUYER_PER_EVENT,
    newTicketCode: generateTicketCode,
    newTicketId: () => `tkt_${randomUUID().replace(/-/g, '')}`,
    signTicket: (ticket) =>
      signer.sign({
        v: 1,
        tid: ticket.ticketId,
        eid: ticket.eventId,
        ttid: ticket.ticketTypeId,
        code: ticket.code,
        iat: Math.floor(Date.now() / 1000),
      }),
  });
  return {
    ...checkout,
    ...createPaymentActivities({ db, ...providers, publicBaseUrl: config.PUBLIC_BASE_URL }),
    // Refunds and event cancellations run on the checkout queue: they need the same payment providers.
    ...createRefundActivities({ db, ...providers }),
    // Points follow orders and refunds, on the same queue.
    ...createRewardActivities({ db, rules: rewardRules(config) }),
    // A paid order's confirmation is sent by the checkout itself (a local activity), through the same outbox.
    sendMessage: createNotificationQueueActivities(config, db, messages).sendMessage,
    ...createHoldSweeperActivities({
      db,
      workflows: temporalWorkflowDirectory(temporal),
      releaseHold: checkout.releaseHold,
      graceMs: config.HOLD_SWEEP_GRACE_SECONDS * 1000,
    }),
  };
}

/** The `nft` task queue's activities: mints on the configured chain. */
export function createNftQueueActivities(config: Config, db: Db, minter: Minter) {
  return createNftActivities({ db, minter, publicBaseUrl: config.PUBLIC_BASE_URL });
}

/** The `notifications` task queue's activities: the outbox over the Mailer and Sms ports. */
export function createNotificationQueueActivities(config: Config, db: Db, providers: NotificationProviders) {
  return createNotificationActivities({
    db,
    ...providers,
    emailTemplates: {
      [MessageKind.OrderConfirmed]: config.SENDGRID_TEMPLATE_ID,
      [MessageKind.PayoutPaid]: config.SENDGRID_PAYOUT_TEMPLATE_ID,
      [RefundMessageKind.RefundSucceeded]: config.SENDGRID_REFUND_TEMPLATE_ID,
    },
    publicBaseUrl: config.PUBLIC_BASE_URL,
  });
}

/** The `payouts` task queue's activities: payouts over the ledger and the payouts port, and reconciliation. */
export function createPayoutQueueActivities(config: Config, db: Db, payouts: Payouts, payments: PaymentProviders) {
  return {
    ...createPayoutActivities({
      db,
      payouts,
      payoutDelayDays: config.PAYOUT_DELAY_DAYS,
      approvalThresholdMinor: config.PAYOUT_APPROVAL_THRESHOLD_MINOR,
    }),
    ...createReconciliationActivities({ db, ...payments, payouts }),
    ...createScheduledPayoutActivities({ db, payoutDelayDays: config.PAYOUT_DELAY_DAYS }),
  };
}
