-- Monthly partitions for ledger_entries, created ahead of time, plus a DEFAULT partition as a
-- safety net so an insert never fails for want of a partition.
--
-- ensure_ledger_partitions(p_from, p_months_ahead) creates the partitions for the month that
-- contains p_from (in UTC) and the p_months_ahead months after it, skipping those that exist,
-- and returns how many it created. Safe to call concurrently (advisory lock) and repeatedly.
-- If rows already sit in the DEFAULT partition for a month being created, they are moved into
-- the new partition: the DEFAULT partition is detached (which also drops its copy of the
-- append-only trigger), its rows for that month are re-inserted through the parent and
-- removed from it, and it is attached again.
CREATE FUNCTION ensure_ledger_partitions(p_from timestamptz, p_months_ahead integer)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    parent_schema  text;
    default_table  text;
    month_local    timestamp;
    month_start    timestamptz;
    month_end      timestamptz;
    partition_name text;
    created        integer := 0;
    offset_months  integer;
    default_has_rows boolean;
BEGIN
    IF p_months_ahead IS NULL OR p_months_ahead < 0 OR p_months_ahead > 120 THEN
        RAISE EXCEPTION 'months_ahead must be between 0 and 120, got %', p_months_ahead
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    PERFORM pg_advisory_xact_lock(hashtext('ensure_ledger_partitions'));

    SELECT n.nspname INTO parent_schema
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = 'ledger_entries'::regclass;

    default_table := format('%I.%I', parent_schema, 'ledger_entries_default');
    IF to_regclass(default_table) IS NULL THEN
        EXECUTE format('CREATE TABLE %s PARTITION OF ledger_entries DEFAULT', default_table);
    END IF;

    FOR offset_months IN 0..p_months_ahead LOOP
        month_local := date_trunc('month', p_from AT TIME ZONE 'UTC') + make_interval(months => offset_months);
        month_start := month_local AT TIME ZONE 'UTC';
        month_end := (month_local + interval '1 month') AT TIME ZONE 'UTC';
        partition_name := format('%I.%I', parent_schema,
            'ledger_entries_y' || to_char(month_local, 'YYYY') || 'm' || to_char(month_local, 'MM'));

        CONTINUE WHEN to_regclass(partition_name) IS NOT NULL;

        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE created_at >= %L AND created_at < %L)',
            default_table, month_start, month_end)
            INTO default_has_rows;

        IF default_has_rows THEN
            EXECUTE format('ALTER TABLE ledger_entries DETACH PARTITION %s', default_table);
            EXECUTE format('CREATE TABLE %s PARTITION OF ledger_entries FOR VALUES FROM (%L) TO (%L)',
                partition_name, month_start, month_end);
            EXECUTE format(
                'INSERT INTO ledger_entries (id, created_at, team_id, endpoint, client_request_id,
                     idempotency_key, estimate, status, charged, flagged, flag_reason,
                     upstream_status, void_reason, settled_at)
                 SELECT id, created_at, team_id, endpoint, client_request_id,
                     idempotency_key, estimate, status, charged, flagged, flag_reason,
                     upstream_status, void_reason, settled_at
                 FROM %s WHERE created_at >= %L AND created_at < %L',
                default_table, month_start, month_end);
            EXECUTE format('DELETE FROM %s WHERE created_at >= %L AND created_at < %L',
                default_table, month_start, month_end);
            EXECUTE format('ALTER TABLE ledger_entries ATTACH PARTITION %s DEFAULT', default_table);
        ELSE
            EXECUTE format('CREATE TABLE %s PARTITION OF ledger_entries FOR VALUES FROM (%L) TO (%L)',
                partition_name, month_start, month_end);
        END IF;
        created := created + 1;
    END LOOP;

    RETURN created;
END;
$$;

-- The current month and the next three; the gateway calls ensure_ledger_partitions at start-up
-- and daily to stay ahead.
SELECT ensure_ledger_partitions(now(), 3);
