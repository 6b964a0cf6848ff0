import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { CHECKOUT_TASK_QUEUE } from '../domain';
import type { TemporalConnectionOptions } from '../workers/temporal-connection';

/**
 * Readiness as a buyer would see it, probed rather than read from log lines: a process's log level (the bench
 * and the crash suite log at `warn`) must not decide whether it counts as up.
 */
export type ReadinessProbe = () => Promise<boolean>;

/** The API answers `/readyz` with 2xx. */
export function apiAnswers(readyzUrl: string): ReadinessProbe {
  return async () => {
    try {
      return (await fetch(readyzUrl)).ok;
    } catch {
      return false; // not listening yet
    }
  };
}

/** A checkout would run now: some worker polls the checkout task queue. One connection, closed by `close`. */
export function workerPolls(
  target: TemporalConnectionOptions,
  namespace: string,
): ReadinessProbe & { close(): Promise<void> } {
  let connection: Promise<Connection> | undefined;
  const probe = async () => {
    connection ??= Connection.connect(target);
    const { pollers } = await (
      await connection
    ).workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: CHECKOUT_TASK_QUEUE },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    return (pollers ?? []).length > 0;
  };
  return Object.assign(probe, {
    close: async () => {
      if (connection) await (await connection).close();
    },
  });
}

/** Waits until the probe holds, or fails naming `what` after `timeoutMs`. */
export async function waitUntil(probe: ReadinessProbe, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${what} within ${timeoutMs / 1000}s`);
}
