/** Sends a provider-style webhook to the platform, retrying with backoff as real providers do. */
export interface WebhookDelivery {
  deliver(path: '/webhooks/stripe' | '/webhooks/coinbase', body: string, headers: Record<string, string>): void;
}

const RETRY_DELAYS_MS = [0, 500, 2_000, 10_000, 30_000];

/**
 * Delivers webhooks in the background: the caller never waits on (or fails because of) delivery, just as a
 * payment API call does not wait for its webhook. Gives up after the last retry, as providers eventually do.
 */
export function createWebhookDelivery(baseUrl: string, log: (line: string) => void = () => {}): WebhookDelivery {
  return {
    deliver(path, body, headers) {
      const attempt = (n: number) => {
        const timer = setTimeout(() => {
          fetch(`${baseUrl}${path}`, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/json', ...headers },
          })
            .then((res) => {
              if (!res.ok && n + 1 < RETRY_DELAYS_MS.length) attempt(n + 1);
              else if (!res.ok)
                log(`sandbox webhook to ${path} gave up after ${n + 1} attempts (HTTP ${res.status})`);
            })
            .catch(() => {
              if (n + 1 < RETRY_DELAYS_MS.length) attempt(n + 1);
              else log(`sandbox webhook to ${path} gave up after ${n + 1} attempts`);
            });
        }, RETRY_DELAYS_MS[n]);
        timer.unref();
      };
      attempt(0);
    },
  };
}

/** A delivery that sends nothing: the benchmark's instant mode, and tests that drive signals themselves. */
export const noWebhookDelivery: WebhookDelivery = { deliver: () => undefined };
