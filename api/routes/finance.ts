import { Router } from 'express';
import { z } from 'zod';
import type { Config } from '../../config';
import type { Db } from '../../db';
import { organizerLedgerSums } from '../../db/ledger';
import { financeCsv, financeFromLedger, type CurrencyFinance } from '../../domain';
import { requireRole } from '../auth';
import { ID_PATTERN, parseOr422 } from '../validation';
import { organizerFor } from './payouts';
import { documentRoute } from '../openapi';

const moneyFigures = {
  grossMinor: z.number().int(),
  feesMinor: z.number().int(),
  refundsMinor: z.number().int(),
  netMinor: z.number().int(),
};
/** One currency's finance figures with its events (domain CurrencyFinance). */
const currencyFinanceSchema = z.object({
  currency: z.string(),
  ...moneyFigures,
  paidOutMinor: z.number().int(),
  inTransitMinor: z.number().int(),
  debtMinor: z.number().int(),
  availableMinor: z.number().int(),
  pendingMinor: z.number().int(),
  events: z.array(
    z.object({
      eventId: z.string(),
      ...moneyFigures,
      endsAt: z.string().nullable(),
      availableFrom: z.string().nullable(),
    }),
  ),
});

const querySchema = z
  .object({
    eventId: z.string().regex(ID_PATTERN, 'must be an id').optional(),
    format: z.enum(['json', 'csv']).optional(),
  })
  .strict();

/**
 * `GET /v1/organizers/:organizerId/finance`: the organizer's money per currency and per event, read from the
 * ledger alone. `?eventId=` narrows the sales figures to one event (paid out, in transit, available and pending
 * stay the organizer's, as payouts are not made per event); `?format=csv` answers a file for accountants.
 */
export function financeRoutes({ config, db }: { config: Config; db: Db }): Router {
  const router = Router();
  documentRoute('get', '/v1/organizers/:organizerId/finance', {
    summary: "The organizer's money per currency and event, from the ledger (the organizer, admin)",
    description: '`?eventId=` narrows the sales figures to one event; `?format=csv` answers a CSV file.',
    roles: ['organizer', 'admin'],
    query: querySchema,
    responses: {
      200: z.object({
        organizerId: z.string(),
        payoutDelayDays: z.number().int(),
        currencies: z.array(currencyFinanceSchema),
      }),
    },
    problems: [422],
  });
  router.get('/v1/organizers/:organizerId/finance', requireRole('organizer', 'admin'), async (req, res) => {
    const organizer = await organizerFor(db, req, 'read');
    const query = parseOr422(querySchema, req.query);
    let finance = financeFromLedger(
      await organizerLedgerSums(db, organizer.id),
      new Date(),
      config.PAYOUT_DELAY_DAYS,
    );
    if (query.eventId) finance = narrowToEvent(finance, query.eventId);
    if (query.format === 'csv') {
      const name = `finance-${organizer.id}${query.eventId ? `-${query.eventId}` : ''}.csv`;
      res
        .type('text/csv')
        .setHeader('Content-Disposition', `attachment; filename="${name}"`)
        .send(financeCsv(finance));
      return;
    }
    res.json({ organizerId: organizer.id, payoutDelayDays: config.PAYOUT_DELAY_DAYS, currencies: finance });
  });
  return router;
}

function narrowToEvent(finance: CurrencyFinance[], eventId: string): CurrencyFinance[] {
  return finance
    .filter((c) => c.events.some((e) => e.eventId === eventId))
    .map((c) => {
      const event = c.events.find((e) => e.eventId === eventId)!;
      return {
        ...c,
        grossMinor: event.grossMinor,
        feesMinor: event.feesMinor,
        refundsMinor: event.refundsMinor,
        netMinor: event.netMinor,
        events: [event],
      };
    });
}
