import { extendZodWithOpenApi, OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z, type ZodTypeAny } from 'zod';
import { ORDER_STATUSES } from '../domain';
import type { Role } from './auth';
import { ID_PATTERN } from './validation';

extendZodWithOpenApi(z);

/**
 * The API document, generated from the zod schemas the routes validate with. Each route registers itself with
 * one call beside its `router.<method>(...)`:
 *
 *   documentRoute('post', '/v1/refunds/:refundId/approve', {
 *     summary: 'Approve a refund', roles: ['support', 'admin'], body: approveSchema, responses: { 200: refundSchema },
 *     problems: [404, 409],
 *   });
 *
 * The path is written exactly as Express has it (`:param`); test/openapi.test.ts walks the router and fails on
 * any route that is not documented.
 */
export interface RouteDoc {
  summary: string;
  description?: string;
  /** Who may call it (bearer token with one of these roles); omitted: no token needed. */
  roles?: readonly Role[];
  /** Requires an `Idempotency-Key` header. */
  idempotencyKey?: boolean;
  /** The JSON body, the same schema the handler parses with. */
  body?: ZodTypeAny;
  /** A form body (`application/x-www-form-urlencoded`), as the sandbox pages post. */
  form?: ZodTypeAny;
  /** A raw body (webhooks are verified over their bytes): its media type and what it carries. */
  rawBody?: { mediaType: string; schema: ZodTypeAny };
  /** Query parameters. */
  query?: z.AnyZodObject;
  /** Headers other than Authorization and Idempotency-Key. */
  headers?: z.AnyZodObject;
  /** Answers by status: a zod schema (JSON), `{ html }`/`{ text }` pages, or a description. */
  responses: Record<number, ZodTypeAny | string | { html: string } | { text: string }>;
  /** Problem statuses it may answer with (application/problem+json). 401 and 403 are added for `roles`. */
  problems?: number[];
  tags?: string[];
}

/** RFC 9457 problem, as every error is answered. */
export const problemSchema = z
  .object({
    type: z.string().url(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .passthrough()
  .openapi('Problem');

/** A path id as the API issues them. */
export const idSchema = z.string().regex(ID_PATTERN);

/** Amount of an order: integer minor units and an ISO currency. */
export const moneySchema = z
  .object({ totalMinor: z.number().int().min(0), currency: z.string().regex(/^[A-Z]{3}$/) })
  .openapi('Money');

/** An order's statuses, as the contract lists them. */
export const orderStatusSchema = z.enum(ORDER_STATUSES);

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete' | 'options';
const documented = new Map<string, { method: Method; path: string; doc: RouteDoc }>();

/** An Express path (`/v1/checkouts/:orderId`) as an OpenAPI path (`/v1/checkouts/{orderId}`). */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** Registers a route in the API document. Idempotent: apps built twice (tests) register each route once. */
export function documentRoute(method: Method, expressPath: string, doc: RouteDoc): void {
  documented.set(`${method} ${expressPath}`, { method, path: expressPath, doc });
}

function content(response: RouteDoc['responses'][number]) {
  if (typeof response === 'string') return undefined;
  if ('html' in response && typeof response.html === 'string')
    return { 'text/html': { schema: z.string().openapi({ description: response.html }) } };
  if ('text' in response && typeof response.text === 'string')
    return { 'text/plain': { schema: z.string().openapi({ description: response.text }) } };
  return { 'application/json': { schema: response as ZodTypeAny } };
}

function describe(response: RouteDoc['responses'][number], status: number): string {
  if (typeof response === 'string') return response;
  if ('html' in response && typeof response.html === 'string') return response.html;
  if ('text' in response && typeof response.text === 'string') return response.text;
  return (response as ZodTypeAny).description ?? (status < 300 ? 'OK' : 'answer');
}

let cached: { size: number; document: object } | undefined;

/** The OpenAPI 3.1 document of every registered route, served at /openapi.json. */
export function openApiDocument(): object {
  if (cached && cached.size === documented.size) return cached.document;
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  registry.register('Problem', problemSchema);
  for (const { method, path, doc } of [...documented.values()].sort((a, b) => a.path.localeCompare(b.path))) {
    const params = [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
    const problems = new Set([...(doc.problems ?? []), ...(doc.roles ? [401, 403] : [])]);
    if (params.length > 0) problems.add(404);
    const headers = doc.idempotencyKey
      ? z.object({ 'Idempotency-Key': z.string().min(1).max(255) }).merge(doc.headers ?? z.object({}))
      : doc.headers;
    const body = doc.body
      ? { 'application/json': { schema: doc.body } }
      : doc.form
        ? {
            'application/x-www-form-urlencoded': { schema: doc.form },
            'application/json': { schema: doc.form },
          }
        : doc.rawBody
          ? { [doc.rawBody.mediaType]: { schema: doc.rawBody.schema } }
          : undefined;
    registry.registerPath({
      method,
      path: openApiPath(path),
      summary: doc.summary,
      ...(doc.description ? { description: doc.description } : {}),
      tags: doc.tags ?? [path.split('/').filter(Boolean)[path.startsWith('/v1/') ? 1 : 0] ?? 'operations'],
      ...(doc.roles ? { security: [{ bearer: [] }], 'x-roles': [...doc.roles] } : {}),
      request: {
        ...(params.length > 0 ? { params: z.object(Object.fromEntries(params.map((p) => [p, idSchema]))) } : {}),
        ...(doc.query ? { query: doc.query } : {}),
        ...(headers ? { headers } : {}),
        ...(body ? { body: { content: body, required: true } } : {}),
      },
      responses: {
        ...Object.fromEntries(
          Object.entries(doc.responses).map(([status, response]) => [
            status,
            {
              description: describe(response, Number(status)),
              ...(content(response) ? { content: content(response) } : {}),
            },
          ]),
        ),
        ...Object.fromEntries(
          [...problems]
            .sort()
            .map((status) => [
              String(status),
              { description: 'problem', content: { 'application/problem+json': { schema: problemSchema } } },
            ]),
        ),
      },
    });
  }
  const document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Bilten API',
      version: '1.0.0',
      description:
        'Tickets and money in event ticketing, on durable Temporal workflows. Errors are application/problem+json (RFC 9457). Generated from the zod schemas the routes validate with; the contract is shared/API.md.',
    },
  });
  cached = { size: documented.size, document };
  return document;
}

/** Every documented operation, as `METHOD /path` with Express-style params; the router test compares these. */
export function documentedRoutes(): string[] {
  return [...documented.values()].map(({ method, path }) => `${method.toUpperCase()} ${path}`);
}
