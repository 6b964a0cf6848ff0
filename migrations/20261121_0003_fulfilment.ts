import type { Knex } from 'knex';

/**
 * Fulfilment: when each NFT was minted (and why not, when it was not), who admitted a ticket at the door,
 * and an outbox status for messages whose provider took them but never answered (UNCONFIRMED: not sent again,
 * so nobody gets a message twice).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tickets', (t) => {
    t.timestamp('nft_minted_at', { useTz: true });
    t.text('nft_error');
    t.text('used_by');
  });
  await knex.schema.alterTable('notifications', (t) => {
    t.text('kind');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['created_at']);
  });
  await knex.raw(`
    ALTER TABLE notifications
      DROP CONSTRAINT notifications_check,
      ADD CONSTRAINT notifications_check CHECK (
        channel IN ('EMAIL','SMS') AND status IN ('PENDING','SENDING','SENT','FAILED','UNCONFIRMED'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`UPDATE notifications SET status = 'FAILED' WHERE status = 'UNCONFIRMED'`);
  await knex.raw(`
    ALTER TABLE notifications
      DROP CONSTRAINT notifications_check,
      ADD CONSTRAINT notifications_check CHECK (
        channel IN ('EMAIL','SMS') AND status IN ('PENDING','SENDING','SENT','FAILED'))`);
  await knex.schema.alterTable('notifications', (t) => {
    t.dropIndex(['created_at']);
    t.dropColumn('updated_at');
    t.dropColumn('kind');
  });
  await knex.schema.alterTable('tickets', (t) => {
    t.dropColumn('used_by');
    t.dropColumn('nft_error');
    t.dropColumn('nft_minted_at');
  });
}
