import type { Knex } from 'knex';

/**
 * At the door: offline scan packs, uploaded scans, and attendance counters.
 *
 * - `tickets.changed_xid` is the transaction that last issued or voided the ticket, and `tickets.voided_at` when
 *   it became VOID. A trigger keeps both, so every code path that voids a ticket (refunds, event cancellation, a
 *   support tool) reaches offline scanners without calling anything. A pack's cursor is the oldest transaction
 *   still running when it was read (`pg_snapshot_xmin`): every change from a transaction below it was already in
 *   that pack, every other one has `changed_xid >= cursor`, so `?since=` never misses a change that committed
 *   late, and no lock is taken at issuance (a flash sale never waits on it).
 * - `voided_at` uses clock_timestamp(): a BEFORE trigger fires after the row lock is taken, so a void that waited
 *   for a scan upload is stamped after it, and a scan recorded as ADMITTED never becomes ADMITTED_WHILE_VOID.
 * - `scan_packs` records every pack handed out, so an upload can name its pack and be checked against its issue.
 * - `scans` holds every admission, online or offline, with its final result; `attendance_counters` is kept in the
 *   same transaction as the scans, so attendance never reads the tickets table.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tickets', (t) => {
    t.specificType('changed_xid', 'xid8');
    t.timestamp('voided_at', { useTz: true });
  });
  await knex.raw(`UPDATE tickets SET changed_xid = pg_current_xact_id()`);
  await knex.raw(`UPDATE tickets SET voided_at = now() WHERE status = 'VOID'`);
  await knex.raw(`ALTER TABLE tickets ALTER COLUMN changed_xid SET NOT NULL`);
  await knex.raw(`CREATE INDEX tickets_event_changed_xid ON tickets (event_id, changed_xid)`);
  await knex.raw(`
    CREATE FUNCTION tickets_track_revocation() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'INSERT' THEN
        NEW.changed_xid := pg_current_xact_id();
        IF NEW.status = 'VOID' THEN NEW.voided_at := coalesce(NEW.voided_at, clock_timestamp()); END IF;
      ELSIF (NEW.status = 'VOID') IS DISTINCT FROM (OLD.status = 'VOID') THEN
        NEW.changed_xid := pg_current_xact_id();
        NEW.voided_at := CASE WHEN NEW.status = 'VOID' THEN clock_timestamp() ELSE NULL END;
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql`);
  await knex.raw(`
    CREATE TRIGGER tickets_track_revocation BEFORE INSERT OR UPDATE OF status ON tickets
      FOR EACH ROW EXECUTE FUNCTION tickets_track_revocation()`);

  await knex.schema.createTable('scan_packs', (t) => {
    t.text('id').primary();
    t.text('event_id').notNullable().references('events.id');
    t.timestamp('issued_at', { useTz: true }).notNullable();
    t.text('since_cursor');
    t.text('cursor').notNullable();
    t.text('issued_to').notNullable();
    t.index(['event_id']);
  });

  await knex.schema.createTable('scans', (t) => {
    t.text('id').primary();
    t.text('event_id').notNullable().references('events.id');
    t.text('ticket_id').references('tickets.id');
    t.text('ticket_type_id');
    t.text('gate').notNullable();
    t.timestamp('scanned_at', { useTz: true }).notNullable();
    t.text('source').notNullable();
    t.text('pack_id').references('scan_packs.id');
    t.text('request_hash').notNullable();
    t.text('result').notNullable();
    t.text('admission_scan_id');
    t.text('admission_gate');
    t.text('scanned_by').notNullable();
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['ticket_id']);
    t.index(['event_id', 'result']);
  });
  await knex.raw(`
    ALTER TABLE scans
      ADD CONSTRAINT scans_result_check CHECK (result IN ('ADMITTED','DUPLICATE','ADMITTED_WHILE_VOID','UNKNOWN')),
      ADD CONSTRAINT scans_source_check CHECK (source IN ('ONLINE','OFFLINE')),
      ADD CONSTRAINT scans_ticket_check CHECK ((ticket_id IS NULL) = (result = 'UNKNOWN'))`);

  await knex.schema.createTable('attendance_counters', (t) => {
    t.text('event_id').notNullable().references('events.id');
    t.text('dimension').notNullable();
    t.text('key').notNullable();
    t.integer('admitted').notNullable().defaultTo(0);
    t.integer('admitted_while_void').notNullable().defaultTo(0);
    t.integer('duplicates').notNullable().defaultTo(0);
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['event_id', 'dimension', 'key']);
  });
  await knex.raw(`
    ALTER TABLE attendance_counters
      ADD CONSTRAINT attendance_counters_dimension_check CHECK (dimension IN ('TICKET_TYPE','GATE')),
      ADD CONSTRAINT attendance_counters_counts_check CHECK (admitted >= 0 AND admitted_while_void >= 0 AND duplicates >= 0)`);

  // Tickets admitted before this migration get the scan row an online scan now writes, so a later upload of
  // an offline scan of one of them settles against it and attendance starts from the right counts.
  await knex.raw(`
    INSERT INTO scans (id, event_id, ticket_id, ticket_type_id, gate, scanned_at, source, request_hash, result, scanned_by)
    SELECT 'scn_migrated_' || id, event_id, id, ticket_type_id, 'online', used_at, 'ONLINE', 'migrated', 'ADMITTED',
           coalesce(used_by, 'unknown')
      FROM tickets WHERE used_at IS NOT NULL`);
  await knex.raw(`
    INSERT INTO attendance_counters (event_id, dimension, key, admitted)
    SELECT event_id, 'TICKET_TYPE', ticket_type_id, count(*) FROM scans GROUP BY event_id, ticket_type_id
    UNION ALL
    SELECT event_id, 'GATE', gate, count(*) FROM scans GROUP BY event_id, gate`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('attendance_counters');
  await knex.schema.dropTable('scans');
  await knex.schema.dropTable('scan_packs');
  await knex.raw(`DROP TRIGGER tickets_track_revocation ON tickets`);
  await knex.raw(`DROP FUNCTION tickets_track_revocation()`);
  await knex.raw(`DROP INDEX tickets_event_changed_xid`);
  await knex.schema.alterTable('tickets', (t) => {
    t.dropColumn('voided_at');
    t.dropColumn('changed_xid');
  });
}
