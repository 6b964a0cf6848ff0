import { randomUUID } from 'node:crypto';
import type { Config } from '../config';
import type { Db } from '../db';
import { createCheckoutActivities } from '../activities/checkout';
import { createPaymentActivities } from '../activities/payments';
import { generateTicketCode } from '../tickets/signing';
import type { PaymentProviders } from './providers';

/** Everything the checkout task queue's activities need, built from real clients. */
export function createCheckoutQueueActivities(config: Config, db: Db, providers: PaymentProviders) {
  return {
    ...createCheckoutActivities({
      db,
      maxOpenHoldsPerBuyer: config.MAX_OPEN_HOLDS_PER_BUYER,
      newTicketCode: generateTicketCode,
      newTicketId: () => `tkt_${randomUUID().replace(/-/g, '')}`,
    }),
    ...createPaymentActivities({ db, ...providers, publicBaseUrl: config.PUBLIC_BASE_URL }),
  };
}
