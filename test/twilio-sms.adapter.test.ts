import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTwilioSms, SmsDeliveryError } from '../providers/notifications/twilio-sms';

/** What the local peer saw of one request. */
interface SeenRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Reply = (res: http.ServerResponse) => void;

/** A stand-in for api.twilio.com: records each request and answers with the reply the test chose. */
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
        // The SDK keeps connections alive; idle sockets would otherwise hold close() open until they time out.
        server.closeAllConnections();
      }),
  };
}

const accountSid = 'AC0123456789abcdef0123456789abcdef';
const authToken = 'test-auth-token';

const json =
  (status: number, body: unknown): Reply =>
  (res) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

/** Twilio's 201 for a queued message, trimmed to the fields that matter here. */
const created = (sid: string, to: string, from: string, body: string): Reply =>
  json(201, {
    sid,
    account_sid: accountSid,
    to,
    from,
    body,
    status: 'queued',
    num_segments: '1',
    direction: 'outbound-api',
    api_version: '2010-04-01',
    date_created: 'Thu, 20 Nov 2025 10:00:00 +0000',
    uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
  });

/** Twilio's error body: numeric code, message, docs link. */
const twilioError = (status: number, code: number, message: string): Reply =>
  json(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });

const message = { messageId: 'msg_order-42_sms', to: '+15555550100', body: 'Your Bilten tickets: ABCD-EFGH' };

describe('Twilio SMS against a local Twilio peer', () => {
  let peer: Awaited<ReturnType<typeof startPeer>>;
  beforeEach(async () => {
    peer = await startPeer();
  });
  afterEach(async () => {
    await peer.close();
  });

  const sms = (from = '+15005550006') => createTwilioSms({ accountSid, authToken, from, apiBase: peer.baseUrl });

  test('when an SMS is sent, then Twilio receives the Messages form post and its sid is returned', async () => {
    peer.reply(created('SM0123456789abcdef0123456789abcdef', message.to, '+15005550006', message.body));

    const result = await sms().send(message);

    expect(result).toEqual({ providerMessageId: 'SM0123456789abcdef0123456789abcdef' });
    expect(peer.seen).toHaveLength(1);
    const req = peer.seen[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe(`/2010-04-01/Accounts/${accountSid}/Messages.json`);
    expect(req.headers.authorization).toBe(
      `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`,
    );
    expect(req.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    const form = Object.fromEntries(new URLSearchParams(req.body));
    expect(form).toEqual({ To: '+15555550100', From: '+15005550006', Body: 'Your Bilten tickets: ABCD-EFGH' });
  });

  test('when the sender is a Messaging Service, then it is sent as MessagingServiceSid instead of From', async () => {
    const service = 'MG0123456789abcdef0123456789abcdef';
    peer.reply(created('SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', message.to, service, message.body));

    await sms(service).send(message);

    const form = Object.fromEntries(new URLSearchParams(peer.seen[0]!.body));
    expect(form).toEqual({ To: '+15555550100', MessagingServiceSid: service, Body: message.body });
  });

  test('when Twilio rejects the number with 400, then the failure is permanent, carries the Twilio code and hides the number', async () => {
    peer.reply(twilioError(400, 21211, "The 'To' number +15555550100 is not a valid phone number."));

    const failure = await sms()
      .send(message)
      .then(
        () => null,
        (e: unknown) => e,
      );

    expect(failure).toBeInstanceOf(SmsDeliveryError);
    expect(failure).toMatchObject({ permanent: true, status: 400, providerCode: 21211, provider: 'twilio' });
    expect((failure as Error).message).toContain('is not a valid phone number');
    expect((failure as Error).message).not.toContain('5555550100');
  });

  test('when the credentials are refused with 401, then the failure is permanent', async () => {
    peer.reply(twilioError(401, 20003, 'Authenticate'));

    await expect(sms().send(message)).rejects.toMatchObject({ permanent: true, status: 401, providerCode: 20003 });
  });

  test('when Twilio is unavailable with 503, then the failure is transient', async () => {
    peer.reply(twilioError(503, 20500, 'Service unavailable'));

    await expect(sms().send(message)).rejects.toMatchObject({ permanent: false, status: 503 });
  });

  test('when Twilio rate-limits with 429, then the failure is transient', async () => {
    peer.reply(twilioError(429, 20429, 'Too Many Requests'));

    await expect(sms().send(message)).rejects.toMatchObject({ permanent: false, status: 429 });
    // The adapter leaves retrying to the activity's retry policy; the SDK must not have retried on its own.
    expect(peer.seen).toHaveLength(1);
  });

  test('when nothing listens at the API base, then the failure is transient', async () => {
    const { baseUrl } = peer;
    await peer.close();
    peer = await startPeer(); // afterEach closes this one
    const unreachable = createTwilioSms({ accountSid, authToken, from: '+15005550006', apiBase: baseUrl });

    await expect(unreachable.send(message)).rejects.toMatchObject({ permanent: false, status: null });
  });
});
