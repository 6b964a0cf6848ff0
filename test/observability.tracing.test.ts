import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { checkoutWorkflowId, type CheckoutView } from '../domain';
import { createCatalogue } from './support/env';
import { buyAs, startTestPlatform, type TestPlatform } from './support/platform';

// The API, the Temporal client, the workflows and the activities, all traced into memory exactly as
// OTEL_EXPORTER_OTLP_ENDPOINT turns it on in api/main.ts and workers/main.ts (observability/tracing.ts).
const exporter = new InMemorySpanExporter();
let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform({}, { spanExporter: exporter });
}, 180_000);
afterAll(() => platform?.stop());

/** Workflow spans leave the sandbox through a sink after their activation; waits until `names` are all exported. */
async function spansNamed(names: string[], within = 30_000): Promise<ReadableSpan[]> {
  const deadline = Date.now() + within;
  for (;;) {
    const spans = exporter.getFinishedSpans();
    const missing = names.filter((name) => !spans.some((s) => s.name === name));
    if (missing.length === 0) return spans;
    if (Date.now() > deadline)
      throw new Error(`spans never exported: ${missing.join(', ')} (have ${spans.map((s) => s.name).join(', ')})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('traces', () => {
  test('when a buyer pays by card, then one trace follows the checkout from the POST through the workflow and its activities to PAID', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10, priceMinor: 2500 });
    const res = await buyAs(platform, {
      eventId: catalogue.eventId,
      ticketTypeId: catalogue.ticketTypeId,
      quantity: 1,
      buyer: { email: 'trace@example.com' },
    });
    expect(res.status).toBe(201);
    const orderId: string = res.body.orderId;
    const workflowId = checkoutWorkflowId(orderId);
    const view = (await platform.client.workflow.getHandle(workflowId).result()) as CheckoutView;
    expect(view.status).toBe('PAID');

    const spans = await spansNamed([
      'POST /v1/checkouts',
      'UpdateWithStartWorkflow:awaitPlacement',
      'RunWorkflow:checkoutWorkflowV3',
      'RunActivity:reserveSeats',
      'RunActivity:chargeCard',
      'RunActivity:issueTickets',
      'RunActivity:sendMessage',
    ]);
    // The HTTP server span is the root: nothing before the buyer's request.
    const server = spans.find((s) => s.name === 'POST /v1/checkouts' && s.attributes['http.status_code'] === 201)!;
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(server.parentSpanId).toBeUndefined();
    expect(server.attributes['http.route']).toBe('/v1/checkouts');
    const trace = spans.filter((s) => s.spanContext().traceId === server.spanContext().traceId);
    const named = (name: string) => trace.filter((s) => s.name === name);

    // The client's update-with-start is a child of the request and names the order's workflow.
    const start = named('UpdateWithStartWorkflow:awaitPlacement');
    expect(start).toHaveLength(1);
    expect(start[0]!.parentSpanId).toBe(server.spanContext().spanId);
    expect(start[0]!.attributes.temporalWorkflowId).toBe(workflowId);
    // The workflow run continues that trace (the worker's span sink tags workflow spans with the workflow's info),
    // and every step of the purchase is an activity in it.
    const run = named('RunWorkflow:checkoutWorkflowV3');
    expect(run).not.toHaveLength(0);
    expect(run.every((s) => s.attributes.workflowId === workflowId)).toBe(true);
    for (const step of ['reserveSeats', 'chargeCard', 'issueTickets']) {
      expect([step, named(`RunActivity:${step}`).length]).toEqual([step, 1]);
      expect([step, named(`StartActivity:${step}`).length]).toEqual([step, 1]);
    }
    // Past PAID, the confirmation the checkout sends is in the same trace.
    const confirmation = named('RunActivity:sendMessage');
    expect(confirmation).toHaveLength(1);
    // Nothing in the trace leaks the buyer's contact.
    expect(JSON.stringify(trace.map((s) => s.attributes))).not.toContain('trace@example.com');
  }, 120_000);
});
