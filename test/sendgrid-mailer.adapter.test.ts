import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createSendgridMailer,
  MailDeliveryError,
  SENDGRID_MESSAGE_ID_ARG,
} from '../providers/notifications/sendgrid-mailer';

/** What the local peer saw of one request. */
interface SeenRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Reply = (res: http.ServerResponse) => void;

/** A stand-in for api.sendgrid.com: records each request and answers with the reply the test chose. */
async function startPeer(): Promise<{
  baseUrl: string;
  seen: SeenRequest[];
  reply: (r: Reply) => void;
  close: () => Promise<void>;
}> {
  const seen: SeenRequest[] = [];
  let next: Reply = (res) => res.writeHead(500).end();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      next(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    seen,
    reply: (r) => {
      next = r;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        // Idle keep-alive sockets would otherwise hold close() open until they time out.
        server.closeAllConnections();
      }),
  };
}

/** SendGrid's 202: an empty body and the id of the accepted message in a header. */
const accepted =
  (messageId: string): Reply =>
  (res) =>
    res.writeHead(202, { 'x-message-id': messageId, 'content-length': '0' }).end();

const errorReply =
  (status: number, message: string, headers: Record<string, string> = {}): Reply =>
  (res) =>
    res
      .writeHead(status, { 'content-type': 'application/json', ...headers })
      .end(JSON.stringify({ errors: [{ message, field: null, help: null }] }));

const message = {
  messageId: 'msg_order-42_confirmation',
  to: 'buyer@example.com',
  templateId: 'd-0123456789abcdef',
  data: { orderId: 'order-42', tickets: [{ code: 'ABCD-EFGH' }], totalMinor: 5000 },
};

describe('SendGrid mailer against a local SendGrid peer', () => {
  let peer: Awaited<ReturnType<typeof startPeer>>;
  beforeEach(async () => {
    peer = await startPeer();
  });
  afterEach(async () => {
    await peer.close();
  });

  const mailer = () =>
    createSendgridMailer({ apiKey: 'SG.test-key', from: 'tickets@bilten.dev', apiBase: peer.baseUrl });

  test('when an email is sent, then SendGrid receives the dynamic template request and its message id is returned', async () => {
    peer.reply(accepted('sg-msg-1'));

    const result = await mailer().send(message);

    expect(result).toEqual({ providerMessageId: 'sg-msg-1' });
    expect(peer.seen).toHaveLength(1);
    const req = peer.seen[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v3/mail/send');
    expect(req.headers.authorization).toBe('Bearer SG.test-key');
    expect(req.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(req.body) as Record<string, unknown>;
    expect(body).toMatchObject({
      from: { email: 'tickets@bilten.dev' },
      template_id: 'd-0123456789abcdef',
      personalizations: [{ to: [{ email: 'buyer@example.com' }], dynamic_template_data: message.data }],
      custom_args: { [SENDGRID_MESSAGE_ID_ARG]: 'msg_order-42_confirmation' },
    });
    // A template send carries no inline content; the template owns subject and body.
    expect(body).not.toHaveProperty('content');
  });

  test('when SendGrid rejects the request with 400, then the failure is permanent and names the reason without the address', async () => {
    peer.reply(errorReply(400, 'The to email buyer@example.com does not contain a valid address.'));

    const failure = await mailer()
      .send(message)
      .then(
        () => null,
        (e: unknown) => e,
      );

    expect(failure).toBeInstanceOf(MailDeliveryError);
    expect(failure).toMatchObject({ permanent: true, status: 400, provider: 'sendgrid' });
    expect((failure as Error).message).toContain('does not contain a valid address');
    expect((failure as Error).message).not.toContain('buyer@example.com');
  });

  test('when the API key is refused with 401, then the failure is permanent', async () => {
    peer.reply(errorReply(401, 'The provided authorization grant is invalid, expired, or revoked'));

    await expect(mailer().send(message)).rejects.toMatchObject({ permanent: true, status: 401 });
  });

  test('when SendGrid is unavailable with 503, then the failure is transient', async () => {
    peer.reply(errorReply(503, 'Service Unavailable'));

    await expect(mailer().send(message)).rejects.toMatchObject({ permanent: false, status: 503 });
  });

  test('when SendGrid rate-limits with 429, then the failure is transient and carries Retry-After', async () => {
    peer.reply(errorReply(429, 'too many requests', { 'retry-after': '7' }));

    await expect(mailer().send(message)).rejects.toMatchObject({
      permanent: false,
      status: 429,
      retryAfterMs: 7000,
    });
  });

  test('when nothing listens at the API base, then the failure is transient', async () => {
    const { baseUrl } = peer;
    await peer.close();
    peer = await startPeer(); // afterEach closes this one
    const unreachable = createSendgridMailer({
      apiKey: 'SG.test-key',
      from: 'tickets@bilten.dev',
      apiBase: baseUrl,
    });

    await expect(unreachable.send(message)).rejects.toMatchObject({ permanent: false, status: null });
  });
});
