import { trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { Resource } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { Sinks } from '@temporalio/workflow';
import type { RequestHandler } from 'express';
import http from 'node:http';
import https from 'node:https';
import { routeTemplate } from './metrics';

/** Tracing as set up in this process: the span processor and resource the workflow span sink needs. */
export interface Tracing {
  processor: SpanProcessor;
  resource: Resource;
  shutdown(): Promise<void>;
}

let active: Tracing | undefined;

/**
 * Turns tracing on for this process: HTTP instrumentation (server and client spans) and a tracer provider that
 * exports to `endpoint` over OTLP/HTTP, or to `exporter` (tests pass an in-memory one). Call it before the HTTP
 * server is created. Without either, nothing is traced and this returns undefined.
 */
export function startTracing(options: {
  serviceName: string;
  endpoint?: string;
  exporter?: SpanExporter;
}): Tracing | undefined {
  if (active) return active;
  if (!options.endpoint && !options.exporter) return undefined;
  const resource = new Resource({ 'service.name': options.serviceName });
  const processor = options.exporter
    ? new SimpleSpanProcessor(options.exporter)
    : new BatchSpanProcessor(new OTLPTraceExporter({ url: `${options.endpoint!.replace(/\/$/, '')}/v1/traces` }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  provider.register();
  const httpInstrumentation = new HttpInstrumentation({
    ignoreIncomingRequestHook: (req) => req.url === '/metrics',
  });
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [httpInstrumentation],
  });
  patchLoadedHttp(httpInstrumentation);
  active = {
    processor,
    resource,
    shutdown: async () => {
      unregister();
      await provider.shutdown();
      active = undefined;
    },
  };
  return active;
}

/**
 * The HTTP instrumentation patches `http` and `https` from a require hook, on their next `require`. By the time
 * tracing starts they are loaded already (express, the provider SDKs) and may never be required again, so the API
 * had no server spans; under Jest, which loads modules itself, the hook never runs at all. This patches the loaded
 * modules through the instrumentation's own module definitions (its API for instrumenting without the hook);
 * patching twice is safe, as it unwraps first.
 */
function patchLoadedHttp(instrumentation: HttpInstrumentation): void {
  const loaded: Record<string, unknown> = { http, https };
  for (const definition of instrumentation.getModuleDefinitions()) {
    const exports = loaded[definition.name];
    if (!exports || !definition.patch) continue;
    definition.moduleExports = exports;
    definition.patch(exports);
  }
}

/** The Temporal client interceptors: a span per start/update/signal, its context passed to the workflow in headers. */
export function tracingClientInterceptors() {
  return active ? { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } : undefined;
}

/** Activity interceptors that continue the workflow's trace in each activity. */
export const traceActivities: ActivityInterceptorsFactory = (ctx) => ({
  inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
  outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
});

/** The workflow interceptor module that traces workflow code (bundled only when tracing is on). */
export const TRACING_WORKFLOW_INTERCEPTOR_MODULE = require.resolve(
  '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors',
);

/** What a worker adds when tracing is on: workflow spans leave the sandbox through the `exporter` sink. */
export function workerTracing(tracing: Tracing | undefined): {
  workflowInterceptorModules: string[];
  activityInterceptors: ActivityInterceptorsFactory[];
  sinks: InjectedSinks<Sinks>;
} {
  if (!tracing) return { workflowInterceptorModules: [], activityInterceptors: [], sinks: {} };
  return {
    workflowInterceptorModules: [TRACING_WORKFLOW_INTERCEPTOR_MODULE],
    activityInterceptors: [traceActivities],
    sinks: { exporter: makeWorkflowExporter(tracing.processor, tracing.resource) },
  };
}

/** Names the request's server span by route template (`POST /v1/checkouts/:orderId/cancel`), as metrics do. */
export const nameServerSpan: RequestHandler = (req, res, next) => {
  const span = trace.getActiveSpan();
  if (span) {
    res.on('finish', () => {
      const route = routeTemplate(req);
      span.updateName(`${req.method} ${route}`);
      span.setAttribute('http.route', route);
    });
  }
  next();
};
