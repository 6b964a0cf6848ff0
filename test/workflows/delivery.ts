import { proxyActivities } from '@temporalio/workflow';
import type { createNotificationActivities } from '../../activities/notifications';

// Test-only workflow: the real deliverMessage activity with a start-to-close timeout of one second instead of
// sendMessageWorkflow's 30 s, so that a hung attempt is timed out and retried by Temporal within the test.
const { deliverMessage } = proxyActivities<ReturnType<typeof createNotificationActivities>>({
  startToCloseTimeout: '1s',
  retry: { initialInterval: '100ms', maximumAttempts: 5 },
});

/** Delivers one outbox message, retried by Temporal on a timeout as sendMessageWorkflow's delivery is. */
export async function deliverWithShortTimeoutWorkflow(messageId: string) {
  return deliverMessage({ messageId });
}
