-- Daily rollups of the ledger, so finance queries read a few thousand rows instead of
-- hundreds of millions. One row per (UTC day of created_at, team, endpoint), counting only
-- SETTLED entries (POSTED, VOIDED, EXPIRED); PENDING entries are not in rollups.
--
-- The database keeps them up to date itself, as entries settle: statement-level AFTER
-- triggers with transition tables on the partitioned ledger_entries (PostgreSQL supports
-- transition tables on statement triggers of a partitioned parent). The append-only trigger
-- (20261128000005) guarantees a settled entry never changes again, so each entry enters its
-- rollup exactly once: when an UPDATE takes it from PENDING to a final status, or when it is
-- inserted already final (an import, the benchmark's seeding).
CREATE TABLE ledger_daily_rollups (
    day      date   NOT NULL,
    team_id  uuid   NOT NULL REFERENCES teams (id),
    endpoint text   NOT NULL,
    -- Settled entries, and how many of them ended in each final status.
    entries  bigint NOT NULL,
    posted   bigint NOT NULL,
    voided   bigint NOT NULL,
    expired  bigint NOT NULL,
    -- Settled entries that are flagged (expired, admitted over a soft budget, ...).
    flagged  bigint NOT NULL,
    -- Sum of the estimates, and of what was charged, of the settled entries.
    estimate bigint NOT NULL,
    charged  bigint NOT NULL,
    PRIMARY KEY (day, team_id, endpoint)
);

CREATE INDEX ledger_daily_rollups_team_day_idx ON ledger_daily_rollups (team_id, day);

-- Adds settled rows to their rollups. The rows are aggregated per (day, team, endpoint) and
-- upserted in that order, so every transaction locks rollup rows in the same order and
-- concurrent settlement batches never deadlock on them.
--
-- ensure_ledger_partitions moves rows out of the DEFAULT partition by re-inserting them through
-- the parent; those rows were counted when they settled, so it sets
-- ledger.moving_partition_rows for the move and this trigger skips them.
CREATE FUNCTION ledger_daily_rollups_add_inserted()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF current_setting('ledger.moving_partition_rows', true) = 'on' THEN
        RETURN NULL;
    END IF;

    INSERT INTO ledger_daily_rollups AS rollup
        (day, team_id, endpoint, entries, posted, voided, expired, flagged, estimate, charged)
    SELECT (created_at AT TIME ZONE 'UTC')::date, team_id, endpoint,
           count(*),
           count(*) FILTER (WHERE status = 'POSTED'),
           count(*) FILTER (WHERE status = 'VOIDED'),
           count(*) FILTER (WHERE status = 'EXPIRED'),
           count(*) FILTER (WHERE flagged),
           sum(estimate),
           sum(charged)
    FROM inserted_rows
    WHERE status <> 'PENDING'
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (day, team_id, endpoint) DO UPDATE SET
        entries  = rollup.entries  + excluded.entries,
        posted   = rollup.posted   + excluded.posted,
        voided   = rollup.voided   + excluded.voided,
        expired  = rollup.expired  + excluded.expired,
        flagged  = rollup.flagged  + excluded.flagged,
        estimate = rollup.estimate + excluded.estimate,
        charged  = rollup.charged  + excluded.charged;
    RETURN NULL;
END;
$$;

CREATE FUNCTION ledger_daily_rollups_add_settled()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO ledger_daily_rollups AS rollup
        (day, team_id, endpoint, entries, posted, voided, expired, flagged, estimate, charged)
    SELECT (n.created_at AT TIME ZONE 'UTC')::date, n.team_id, n.endpoint,
           count(*),
           count(*) FILTER (WHERE n.status = 'POSTED'),
           count(*) FILTER (WHERE n.status = 'VOIDED'),
           count(*) FILTER (WHERE n.status = 'EXPIRED'),
           count(*) FILTER (WHERE n.flagged),
           sum(n.estimate),
           sum(n.charged)
    FROM settled_new n
    JOIN settled_old o ON o.id = n.id AND o.created_at = n.created_at
    WHERE o.status = 'PENDING' AND n.status <> 'PENDING'
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (day, team_id, endpoint) DO UPDATE SET
        entries  = rollup.entries  + excluded.entries,
        posted   = rollup.posted   + excluded.posted,
        voided   = rollup.voided   + excluded.voided,
        expired  = rollup.expired  + excluded.expired,
        flagged  = rollup.flagged  + excluded.flagged,
        estimate = rollup.estimate + excluded.estimate,
        charged  = rollup.charged  + excluded.charged;
    RETURN NULL;
END;
$$;

-- A trigger with transition tables may have only one event, hence two triggers.
CREATE TRIGGER ledger_daily_rollups_on_insert
    AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS inserted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_daily_rollups_add_inserted();

CREATE TRIGGER ledger_daily_rollups_on_settle
    AFTER UPDATE ON ledger_entries
    REFERENCING OLD TABLE AS settled_old NEW TABLE AS settled_new
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_daily_rollups_add_settled();

-- Backfill what is already settled. CREATE TRIGGER above took a lock that blocks writes to
-- ledger_entries until this migration commits, so no entry can settle between the backfill's
-- snapshot and the triggers taking over: each settled entry is counted exactly once.
INSERT INTO ledger_daily_rollups
    (day, team_id, endpoint, entries, posted, voided, expired, flagged, estimate, charged)
SELECT (created_at AT TIME ZONE 'UTC')::date, team_id, endpoint,
       count(*),
       count(*) FILTER (WHERE status = 'POSTED'),
       count(*) FILTER (WHERE status = 'VOIDED'),
       count(*) FILTER (WHERE status = 'EXPIRED'),
       count(*) FILTER (WHERE flagged),
       sum(estimate),
       sum(charged)
FROM ledger_entries
WHERE status <> 'PENDING'
GROUP BY 1, 2, 3;

-- ensure_ledger_partitions as in 20261128000004, except that it marks the move of rows out of
-- the DEFAULT partition (ledger.moving_partition_rows, transaction-local) so the rollup
-- trigger does not count those rows a second time.
CREATE OR REPLACE FUNCTION ensure_ledger_partitions(p_from timestamptz, p_months_ahead integer)
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
            PERFORM set_config('ledger.moving_partition_rows', 'on', true);
            EXECUTE format(
                'INSERT INTO ledger_entries (id, created_at, team_id, endpoint, client_request_id,
                     idempotency_key, estimate, status, charged, flagged, flag_reason,
                     upstream_status, void_reason, settled_at)
                 SELECT id, created_at, team_id, endpoint, client_request_id,
                     idempotency_key, estimate, status, charged, flagged, flag_reason,
                     upstream_status, void_reason, settled_at
                 FROM %s WHERE created_at >= %L AND created_at < %L',
                default_table, month_start, month_end);
            PERFORM set_config('ledger.moving_partition_rows', 'off', true);
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
