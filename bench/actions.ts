// What Temporal Cloud would bill for a workflow, counted from its history. Pure: no client, no server, so the
// rules are unit-tested on hand-made event lists (test/bench-actions.test.ts).
//
// The rules follow "Temporal Cloud Actions" (docs.temporal.io/cloud/actions, read 2026-12-02):
// - a workflow start is 1 (client start, update-with-start's start, continue-as-new's new run); a child's start is
//   billed on its parent as 2 (the intent and the attempt), so the child's own started event adds nothing;
// - every activity scheduled is 1, every retry 1 more (the started event's attempt - 1);
// - all markers recorded in one workflow task are 1 together (local activities, and patch markers, which are
//   RecordMarker commands too), and every local-activity attempt after the first is 1 (the task's metering data);
// - a timer started (including `condition` with a timeout), a signal received, an update accepted, a
//   workflow-options update, a Nexus operation scheduled or cancelled, a reset: 1 each;
// - a search-attribute upsert is 1, except one that only sets TemporalChangeVersion (what `patched()` writes);
//   attributes given at the start are free;
// - a memo upsert (WorkflowPropertiesModified) is not on the list: 0.
// Not in a history, so not counted here: queries, activity heartbeats, a signal-with-start's single charge,
// a schedule's own two actions per run, and workflow-task heartbeats of long local activities.

/** One event as `temporal workflow show --output json` and `historyToJSON` write it (see test/histories). */
export interface JsonHistoryEvent {
  eventId?: string;
  eventType: string;
  [attributes: string]: unknown;
}

/** What a history costs in Temporal Cloud actions, with the reason for each. */
export interface ActionCount {
  total: number;
  /** Actions by what caused them (`activity scheduled`, `markers (per workflow task)`...). */
  byKind: Record<string, number>;
}

/** `EVENT_TYPE_ACTIVITY_TASK_SCHEDULED` (proto JSON) and `ActivityTaskScheduled` (newer CLIs) alike. */
export function eventTypeName(eventType: string): string {
  if (eventType.startsWith('EVENT_TYPE_')) return eventType.slice('EVENT_TYPE_'.length);
  return eventType.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** The `<type>EventAttributes` object of an event, e.g. `activityTaskStarted`. */
function attributes(event: JsonHistoryEvent): Record<string, unknown> {
  const camel = eventTypeName(event.eventType)
    .toLowerCase()
    .replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return (event[`${camel}EventAttributes`] ?? {}) as Record<string, unknown>;
}

const num = (value: unknown): number => (value === undefined || value === null ? 0 : Number(value));

/** Events by type (short names: `ACTIVITY_TASK_SCHEDULED`). */
export function eventTypeCounts(events: JsonHistoryEvent[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of events) {
    const type = eventTypeName(e.eventType);
    counts[type] = (counts[type] ?? 0) + 1;
  }
  return counts;
}

/** The Temporal Cloud actions of one workflow's history. */
export function countActions(events: JsonHistoryEvent[]): ActionCount {
  const byKind: Record<string, number> = {};
  const add = (kind: string, n = 1) => {
    if (n > 0) byKind[kind] = (byKind[kind] ?? 0) + n;
  };
  const markerTasks = new Set<string>();
  for (const event of events) {
    const a = attributes(event);
    switch (eventTypeName(event.eventType)) {
      case 'WORKFLOW_EXECUTION_STARTED':
        // A child's start was billed on its parent; a child's continue-as-new run is a start of its own.
        if (a.parentWorkflowExecution && !a.continuedExecutionRunId) break;
        add('workflow started');
        break;
      case 'START_CHILD_WORKFLOW_EXECUTION_INITIATED':
        add('child workflow started', 2);
        break;
      case 'ACTIVITY_TASK_SCHEDULED':
        add('activity scheduled');
        break;
      case 'ACTIVITY_TASK_STARTED':
        add('activity retried', num(a.attempt) - 1);
        break;
      case 'MARKER_RECORDED':
        markerTasks.add(String(a.workflowTaskCompletedEventId ?? `event ${event.eventId}`));
        break;
      case 'WORKFLOW_TASK_COMPLETED': {
        const metering = (a.meteringMetadata ?? {}) as Record<string, unknown>;
        add('local activity retried', num(metering.nonfirstLocalActivityExecutionAttempts));
        break;
      }
      case 'TIMER_STARTED':
        add('timer started');
        break;
      case 'WORKFLOW_EXECUTION_SIGNALED':
        add('signal received');
        break;
      case 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED':
        add('update accepted');
        break;
      case 'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES': {
        const fields = Object.keys(
          ((a.searchAttributes ?? {}) as { indexedFields?: Record<string, unknown> }).indexedFields ?? {},
        );
        if (fields.some((f) => f !== 'TemporalChangeVersion')) add('search attributes upserted');
        break;
      }
      case 'WORKFLOW_EXECUTION_OPTIONS_UPDATED':
        add('workflow options updated');
        break;
      case 'NEXUS_OPERATION_SCHEDULED':
      case 'NEXUS_OPERATION_CANCEL_REQUESTED':
        add('nexus operation');
        break;
      case 'WORKFLOW_TASK_FAILED':
        if (a.cause === 'WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW') add('workflow reset');
        break;
    }
  }
  add('markers (per workflow task)', markerTasks.size);
  return { total: Object.values(byKind).reduce((s, n) => s + n, 0), byKind };
}

/** An activity the workflow ran, and how: `local` (a marker in its workflow task) or `remote` (a task of its own). */
export interface ActivityStep {
  activityType: string;
  kind: 'local' | 'remote';
}

/** The local-activity marker's own record (plain JSON, never encrypted: the SDK's core writes it). */
function localActivityType(markerAttributes: Record<string, unknown>): string | undefined {
  const details = markerAttributes.details as Record<string, { payloads?: Array<{ data?: string }> }> | undefined;
  const data = details?.data?.payloads?.[0]?.data;
  if (!data) return undefined;
  const record = JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as { activity_type?: string };
  return record.activity_type;
}

/** The activities of a history in the order they were decided, each local or remote. */
export function activitySteps(events: JsonHistoryEvent[]): ActivityStep[] {
  const steps: ActivityStep[] = [];
  for (const event of events) {
    const a = attributes(event);
    const type = eventTypeName(event.eventType);
    if (type === 'ACTIVITY_TASK_SCHEDULED') {
      steps.push({
        activityType: String((a.activityType as { name?: string } | undefined)?.name),
        kind: 'remote',
      });
    } else if (type === 'MARKER_RECORDED' && a.markerName === 'core_local_activity') {
      steps.push({ activityType: localActivityType(a) ?? 'unknown', kind: 'local' });
    }
  }
  return steps;
}

/** Sums of per-workflow counts over the workflows of one order, or over many orders. */
export function addCounts(into: Record<string, number>, counts: Record<string, number>): Record<string, number> {
  for (const [k, v] of Object.entries(counts)) into[k] = (into[k] ?? 0) + v;
  return into;
}
