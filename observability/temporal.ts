import {
  ApplicationFailure,
  CancelledFailure,
  type LogLevel as TemporalLogLevel,
  type LogMetadata,
  type Logger as TemporalLogger,
} from '@temporalio/common';
import type { ActivityExecuteInput, ActivityInterceptorsFactory } from '@temporalio/worker';
import type { Logger, LogLevel } from './logger';
import { workerMetrics } from './metrics';

const PINO_LEVEL: Record<TemporalLogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** The Temporal SDK's level names for a LOG_LEVEL (core logs are filtered before they cross into Node). */
export function temporalLevel(level: LogLevel): TemporalLogLevel {
  if (level === 'trace') return 'TRACE';
  if (level === 'debug') return 'DEBUG';
  if (level === 'info') return 'INFO';
  if (level === 'warn') return 'WARN';
  return 'ERROR';
}

/**
 * The SDK's logger interface over pino, for `Runtime.install({ logger })`: workflow `log.*` calls (through the SDK's
 * logger sink), activity `log.*` calls, worker lifecycle lines and forwarded core logs all become pino lines with
 * `workflowId`, `runId` and (through our interceptors) `orderId` as fields.
 */
export function temporalLogger(log: Logger): TemporalLogger {
  const write = (level: TemporalLogLevel, message: string, meta: LogMetadata = {}) => {
    const { workflowRunId, taskToken: _taskToken, ...rest } = meta as Record<string, unknown>;
    const fields =
      workflowRunId !== undefined && rest.runId === undefined ? { ...rest, runId: workflowRunId } : rest;
    log[PINO_LEVEL[level]](fields, message);
  };
  return {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
}

/**
 * A Temporal logger that writes everything at debug: the workflow bundler's webpack output is only interesting
 * when something is wrong with the bundle.
 */
export function debugOnlyTemporalLogger(log: Logger): TemporalLogger {
  const write = (_level: TemporalLogLevel, message: string, meta?: LogMetadata) => log.debug(meta ?? {}, message);
  return {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
}

/** The order an activity works on, from its one input object (`{ orderId }` or `{ order: { orderId } }`). */
function orderIdOf(input: ActivityExecuteInput): string | undefined {
  const arg = input.args[0] as { orderId?: unknown; order?: { orderId?: unknown } } | undefined;
  const orderId = arg?.orderId ?? arg?.order?.orderId;
  return typeof orderId === 'string' ? orderId : undefined;
}

/**
 * Workflow id prefixes whose rest is an order id (workflow ids are business keys). A new per-order workflow type
 * adds its prefix here so its activities' lines carry `orderId` from their very first line.
 */
export const ORDER_WORKFLOW_ID_PREFIXES = ['checkout-', 'late-payment-', 'nft-mint-', 'notify-order-confirmed-'];

/** The order a workflow id names, if it is one of an order's workflows. */
export function orderIdFromWorkflowId(workflowId: string | undefined): string | undefined {
  const prefix = workflowId ? ORDER_WORKFLOW_ID_PREFIXES.find((p) => workflowId.startsWith(p)) : undefined;
  return prefix ? workflowId!.slice(prefix.length) : undefined;
}

/** How an activity attempt ended, as the outcome label of `bilten_activity_executions_total`. */
function outcomeOf(err: unknown): 'retryable_failure' | 'business_failure' | 'cancelled' {
  if (err instanceof CancelledFailure) return 'cancelled';
  if (err instanceof ApplicationFailure && err.nonRetryable) return 'business_failure';
  return 'retryable_failure';
}

/**
 * Counts and times every activity attempt by outcome, and puts the order's id on the activity's log lines.
 * Registered on every worker (`interceptors.activity`).
 */
export const observeActivities: ActivityInterceptorsFactory = (ctx) => {
  let orderId = orderIdFromWorkflowId(ctx.info.workflowExecution?.workflowId);
  return {
    inbound: {
      async execute(input, next) {
        orderId = orderIdOf(input) ?? orderId;
        const { activityType, taskQueue } = ctx.info;
        const end = workerMetrics.activitySeconds.startTimer({ activity_type: activityType });
        try {
          const result = await next(input);
          workerMetrics.activities.inc({
            activity_type: activityType,
            task_queue: taskQueue,
            outcome: 'completed',
          });
          end({ outcome: 'completed' });
          return result;
        } catch (err) {
          const outcome = outcomeOf(err);
          workerMetrics.activities.inc({ activity_type: activityType, task_queue: taskQueue, outcome });
          end({ outcome });
          throw err;
        }
      },
    },
    outbound: {
      getLogAttributes(input, next) {
        return next(orderId ? { orderId, ...input } : input);
      },
    },
  };
};

/** Workflow interceptor modules to bundle with the workflows: order ids on workflow log lines. */
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('./workflow-interceptors')];
