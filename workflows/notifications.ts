import {
  log,
  proxyActivities,
  rootCause,
  setHandler,
  upsertMemo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { statusQuery, type SendMessageInput, type SendMessageResult } from '../domain';
import type { createNotificationActivities } from '../activities/notifications';

/** Writing the outbox rows: quick, retried until Postgres answers. */
const dbWrite: ActivityOptions = {
  startToCloseTimeout: '15s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
};
/**
 * One provider call per attempt (the adapters time out after 10 s). Transient failures back off to one try
 * every 15 minutes and give up after a day; a refusal (bad number, unknown template) is not retried.
 */
const providerCall: ActivityOptions = {
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '24h',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '15m' },
};

const outbox = proxyActivities<ReturnType<typeof createNotificationActivities>>(dbWrite);
const delivery = proxyActivities<ReturnType<typeof createNotificationActivities>>(providerCall);

/**
 * Sends one message (an order confirmation, later refunds, payouts, rewards) on every channel it has a
 * recipient for, each through its own outbox row so no retry sends it twice. A channel that cannot be
 * delivered ends FAILED in the outbox and in this workflow's result and memo; the workflow itself fails only
 * when the message cannot even be composed (no such order). It runs abandoned, so that never reaches the order.
 */
export async function sendMessageWorkflow(input: SendMessageInput): Promise<SendMessageResult> {
  const result: SendMessageResult = {};
  let status: 'PREPARING' | 'SENDING' | 'DONE' = 'PREPARING';
  setHandler(statusQuery, () => ({ status, kind: input.kind, channels: { ...result } }));
  const { messages } = await outbox.prepareMessages(input);
  status = 'SENDING';
  for (const m of messages) result[m.channel] = 'PENDING';
  upsertMemo({ kind: input.kind, channels: { ...result } });
  await Promise.all(
    messages.map(async ({ messageId, channel }) => {
      try {
        result[channel] = (await delivery.deliverMessage({ messageId })).status;
      } catch (err) {
        const reason = rootCause(err) ?? String(err);
        log.warn('message not delivered', { messageId, reason });
        result[channel] = (await outbox.markMessageFailed({ messageId, reason })).status;
      }
      upsertMemo({ channels: { ...result } });
    }),
  );
  status = 'DONE';
  return result;
}
