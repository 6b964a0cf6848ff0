import type { Db } from '../../db';

/**
 * Voids a ticket by SQL the way a refund leaves it (ticket VOID, its seat back on sale), so the run's shared books
 * stay consistent for the ledger invariant check of other test files. Tests that use it say so in their names;
 * the refund API's own path to VOID is covered by scans.api and refunds.api.
 */
export async function voidBySql(db: Db, ticketId: string): Promise<void> {
  await db.transaction(async (trx) => {
    const [ticket] = await trx('tickets')
      .where({ id: ticketId })
      .update({ status: 'VOID' })
      .returning('ticket_type_id');
    await trx('ticket_types').where({ id: ticket.ticket_type_id }).decrement('sold', 1);
  });
}
