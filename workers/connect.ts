import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../config';
import { temporalConnectionOptions } from './temporal-connection';

/** The delays between connection attempts: half a second, doubling, at most 30 s. */
export function connectionBackoffMs(attempt: number): number {
  return Math.min(500 * 2 ** (attempt - 1), 30_000);
}

/**
 * Temporal may come up after the worker (a restart, a deploy in the wrong order): wait for it, backing off from
 * half a second to 30 s, instead of exiting and leaving the task queues unpolled. `onRetry` hears each failure.
 */
export async function connectWithBackoff(
  config: Config,
  onRetry: (failure: { attempt: number; retryInMs: number; err: Error }) => void,
): Promise<NativeConnection> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await NativeConnection.connect(temporalConnectionOptions(config));
    } catch (err) {
      const retryInMs = connectionBackoffMs(attempt);
      onRetry({ attempt, retryInMs, err: err as Error });
      await new Promise((resolve) => setTimeout(resolve, retryInMs));
    }
  }
}
