import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  activitySteps,
  countActions,
  eventTypeCounts,
  eventTypeName,
  type JsonHistoryEvent,
} from '../bench/actions';
import { differencesFromShape, expectedActivitySteps, type CheckoutShape } from '../bench/checkout-shape';
import { HISTORIES_DIR } from './support/histories';

/** A history event as the JSON histories hold it; `type` is the short name, attributes under its own key. */
function event(id: number, type: string, attributes: Record<string, unknown> = {}): JsonHistoryEvent {
  const camel = type.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return { eventId: String(id), eventType: `EVENT_TYPE_${type}`, [`${camel}EventAttributes`]: attributes };
}

/** A local-activity marker as the SDK's core records it, in workflow task `task`. */
function localActivityMarker(id: number, task: number, activityType: string): JsonHistoryEvent {
  const record = { seq: 1, attempt: 1, activity_id: '1', activity_type: activityType };
  return event(id, 'MARKER_RECORDED', {
    markerName: 'core_local_activity',
    workflowTaskCompletedEventId: String(task),
    details: { data: { payloads: [{ data: Buffer.from(JSON.stringify(record)).toString('base64') }] } },
  });
}

const patchMarker = (id: number, task: number) =>
  event(id, 'MARKER_RECORDED', { markerName: 'core_patch', workflowTaskCompletedEventId: String(task) });

const upsert = (id: number, ...fields: string[]) =>
  event(id, 'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES', {
    searchAttributes: { indexedFields: Object.fromEntries(fields.map((f) => [f, {}])) },
  });

const task = (first: number) => [
  event(first, 'WORKFLOW_TASK_SCHEDULED'),
  event(first + 1, 'WORKFLOW_TASK_STARTED'),
  event(first + 2, 'WORKFLOW_TASK_COMPLETED', { meteringMetadata: {} }),
];

describe('countActions', () => {
  test('when a workflow is started by a client and completes, then the start is its only action', () => {
    const history = [event(1, 'WORKFLOW_EXECUTION_STARTED'), ...task(2), event(5, 'WORKFLOW_EXECUTION_COMPLETED')];
    expect(countActions(history)).toEqual({ total: 1, byKind: { 'workflow started': 1 } });
  });

  test('when a workflow was started by its parent, then its start adds nothing (the parent paid 2 for it)', () => {
    const child = [
      event(1, 'WORKFLOW_EXECUTION_STARTED', { parentWorkflowExecution: { workflowId: 'checkout-1' } }),
      ...task(2),
    ];
    const parent = [event(1, 'WORKFLOW_EXECUTION_STARTED'), event(2, 'START_CHILD_WORKFLOW_EXECUTION_INITIATED')];
    expect(countActions(child).total).toBe(0);
    expect(countActions(parent).byKind).toEqual({ 'workflow started': 1, 'child workflow started': 2 });
  });

  test('when a child continues as new, then its new run is a start of its own', () => {
    const run = [
      event(1, 'WORKFLOW_EXECUTION_STARTED', {
        parentWorkflowExecution: { workflowId: 'p' },
        continuedExecutionRunId: 'r1',
      }),
    ];
    expect(countActions(run).total).toBe(1);
  });

  test('when an activity is scheduled and succeeds on its third attempt, then it costs 1 plus 2 retries', () => {
    const history = [
      event(5, 'ACTIVITY_TASK_SCHEDULED', { activityType: { name: 'chargeCard' } }),
      event(6, 'ACTIVITY_TASK_STARTED', { attempt: 3 }),
      event(7, 'ACTIVITY_TASK_COMPLETED'),
    ];
    expect(countActions(history).byKind).toEqual({ 'activity scheduled': 1, 'activity retried': 2 });
  });

  test('when several markers are recorded in one workflow task, then they are one action together', () => {
    const history = [
      ...task(2),
      localActivityMarker(5, 4, 'reserveSeats'),
      patchMarker(6, 4),
      ...task(7),
      localActivityMarker(10, 9, 'issueTickets'),
      localActivityMarker(11, 9, 'accrueOrderPoints'),
    ];
    expect(countActions(history)).toEqual({ total: 2, byKind: { 'markers (per workflow task)': 2 } });
  });

  test('when a local activity needed more attempts, then each attempt after the first is an action', () => {
    const history = [
      event(4, 'WORKFLOW_TASK_COMPLETED', { meteringMetadata: { nonfirstLocalActivityExecutionAttempts: 2 } }),
      localActivityMarker(5, 4, 'reserveSeats'),
    ];
    expect(countActions(history).byKind).toEqual({
      'local activity retried': 2,
      'markers (per workflow task)': 1,
    });
  });

  test('when an upsert only sets TemporalChangeVersion, then it is free; any other attribute costs 1', () => {
    const history = [
      upsert(5, 'TemporalChangeVersion'),
      upsert(6, 'OrderStatus'),
      upsert(7, 'OrderStatus', 'AmountMinor'),
    ];
    expect(countActions(history).byKind).toEqual({ 'search attributes upserted': 2 });
  });

  test('when the memo is upserted, then it costs nothing', () => {
    expect(countActions([event(5, 'WORKFLOW_PROPERTIES_MODIFIED')]).total).toBe(0);
  });

  test('when a workflow takes an update, a signal and starts a timer, then each is one action', () => {
    const history = [
      event(7, 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED'),
      event(8, 'WORKFLOW_EXECUTION_UPDATE_COMPLETED'),
      event(9, 'WORKFLOW_EXECUTION_SIGNALED'),
      event(10, 'TIMER_STARTED'),
      event(11, 'TIMER_CANCELED'),
    ];
    expect(countActions(history).byKind).toEqual({
      'update accepted': 1,
      'signal received': 1,
      'timer started': 1,
    });
  });

  test('when the recorded inline-rewards card checkout is counted, then its actions are the ones its events bill', () => {
    const { events } = JSON.parse(
      readFileSync(join(HISTORIES_DIR, 'checkout-inline-rewards-api-card-paid.json'), 'utf8'),
    ) as { events: JsonHistoryEvent[] };
    // Start, update, chargeCard, the child (2), one OrderStatus upsert, the signal it got after PAID; markers in
    // the three tasks that ran local activities or patches (4, 16, 31); TemporalChangeVersion and memo are free.
    expect(countActions(events).byKind).toEqual({
      'workflow started': 1,
      'update accepted': 1,
      'signal received': 1,
      'activity scheduled': 1,
      'search attributes upserted': 1,
      'child workflow started': 2,
      'markers (per workflow task)': 3,
    });
  });
});

describe('activitySteps', () => {
  test('when a history has local and remote activities, then each is named with how it ran, in order', () => {
    const history = [
      localActivityMarker(5, 4, 'reserveSeats'),
      event(6, 'ACTIVITY_TASK_SCHEDULED', { activityType: { name: 'chargeCard' } }),
      patchMarker(7, 4),
      localActivityMarker(10, 9, 'issueTickets'),
    ];
    expect(activitySteps(history)).toEqual([
      { activityType: 'reserveSeats', kind: 'local' },
      { activityType: 'chargeCard', kind: 'remote' },
      { activityType: 'issueTickets', kind: 'local' },
    ]);
  });
});

describe('eventTypeCounts', () => {
  test('when event types come as proto enum names or as newer CLI names, then both count under one short name', () => {
    expect(eventTypeName('ActivityTaskScheduled')).toBe('ACTIVITY_TASK_SCHEDULED');
    expect(
      eventTypeCounts([
        { eventType: 'EVENT_TYPE_TIMER_STARTED' },
        { eventType: 'TimerStarted' },
        { eventType: 'EVENT_TYPE_TIMER_FIRED' },
      ]),
    ).toEqual({ TIMER_STARTED: 2, TIMER_FIRED: 1 });
  });
});

describe('differencesFromShape', () => {
  const shape: CheckoutShape = {
    workflowType: 'checkoutWorkflowV2',
    steps: { reserve: 'local', charge: 'remote', issue: 'local', accrue: 'local' },
    paidAfter: 'issue',
    searchAttributeUpserts: 1,
    memoUpserts: 2,
    timerAfterPaid: false,
  };

  test('when the sale ran the shape exactly, then there is nothing to say', () => {
    const ran = { workflowType: 'checkoutWorkflowV2', steps: expectedActivitySteps(shape) };
    expect(differencesFromShape(ran, shape)).toEqual([]);
  });

  test('when the sale ran another type with the charge local, then both are named and the floor is called off', () => {
    const steps = expectedActivitySteps(shape).map((s) => ({ ...s, kind: 'local' as const }));
    expect(differencesFromShape({ workflowType: 'checkoutWorkflowV3', steps }, shape)).toEqual([
      'the sale ran checkoutWorkflowV3; CHECKOUT_SHAPE describes checkoutWorkflowV2',
      "the sale's checkout ran reserveSeats local, chargeCard local, issueTickets local, accrueOrderPoints local; " +
        'CHECKOUT_SHAPE says reserveSeats local, chargeCard remote, issueTickets local, accrueOrderPoints local',
      'the like-for-like baseline is not like for like until bench/checkout-shape.ts follows',
    ]);
  });
});
