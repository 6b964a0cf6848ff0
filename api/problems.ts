import type { ErrorRequestHandler, Response } from 'express';
import { problemType } from '../domain';
import { logger } from '../observability/logger';

/** One bad field in a request, as listed in a validation problem's `errors`. */
export interface FieldError {
  field: string;
  message: string;
}

/** An RFC 9457 problem the API answers with; thrown by handlers and rendered by `problemHandler`. */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail ?? title);
  }
}

export const problems = {
  unauthorized: (detail = 'a valid bearer token is required') =>
    new Problem(401, 'unauthorized', 'Unauthorized', detail),
  forbidden: (detail = 'this role may not do that') => new Problem(403, 'forbidden', 'Forbidden', detail),
  notFound: (what: string) => new Problem(404, 'not-found', 'Not Found', `${what} was not found`),
  validation: (errors: FieldError[]) =>
    new Problem(422, 'validation', 'Unprocessable Content', 'the request has invalid fields', { errors }),
  badRequest: (slug: string, detail: string) => new Problem(400, slug, 'Bad Request', detail),
  conflict: (slug: string, detail: string, extra: Record<string, unknown> = {}) =>
    new Problem(409, slug, 'Conflict', detail, extra),
};

/** Writes a problem+json response. */
export function sendProblem(res: Response, problem: Problem, instance?: string): void {
  // Metrics and logs name the refusal (`sold-out`, `invalid-signature`), not only its status code.
  res.locals.problem = problem.slug;
  res
    .status(problem.status)
    .type('application/problem+json')
    .json({
      type: problemType(problem.slug),
      title: problem.title,
      status: problem.status,
      detail: problem.detail ?? problem.title,
      ...(instance ? { instance } : {}),
      ...problem.extra,
    });
}

/** Renders every error as problem+json; unexpected ones become a 500 without leaking internals. */
export const problemHandler: ErrorRequestHandler = (err, req, res, _next) => {
  if (err instanceof Problem) return sendProblem(res, err, req.originalUrl);
  // body-parser errors carry a status and a type we can name precisely.
  const status = typeof err?.status === 'number' ? err.status : undefined;
  if (status === 413)
    return sendProblem(res, new Problem(413, 'payload-too-large', 'Payload Too Large', 'the body is too large'));
  if (err?.type === 'entity.parse.failed')
    return sendProblem(res, problems.badRequest('malformed-json', 'the body is not valid JSON'));
  if (status && status >= 400 && status < 500) {
    return sendProblem(
      res,
      new Problem(status, 'bad-request', 'Bad Request', String(err.message ?? 'bad request')),
    );
  }
  (req.log ?? logger.child({ component: 'api' })).error({ err }, `${req.method} ${req.originalUrl} failed`);
  sendProblem(res, new Problem(500, 'internal', 'Internal Server Error', 'something went wrong on our side'));
};

/**
 * Requests Node cannot even parse (bad request line, headers too large, a broken chunk) never reach Express:
 * answer them as problem+json too, instead of Node's bare 400 or 431, then close the connection.
 */
export function answerMalformedHttp(server: import('node:http').Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: import('node:stream').Duplex) => {
    if (!socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) return void socket.destroy();
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const status = tooLarge ? 431 : timedOut ? 408 : 400;
    const title = tooLarge ? 'Request Header Fields Too Large' : timedOut ? 'Request Timeout' : 'Bad Request';
    const slug = tooLarge ? 'headers-too-large' : timedOut ? 'request-timeout' : 'malformed-http';
    const body = JSON.stringify({
      type: problemType(slug),
      title,
      status,
      detail: tooLarge ? 'the request headers are too large' : 'the request is not valid HTTP',
    });
    socket.end(
      `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
