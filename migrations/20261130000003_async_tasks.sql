-- Async tasks through the gateway (POST /v1/async/task and /batch). Each task a team submits
-- is recorded, in one transaction and before it is forwarded, as one PENDING ledger entry
-- (mode 'async') and one async_tasks row saying who owns it. It is settled later from cloro's
-- creditsCharged (webhook or polling), exactly once, through the ledger's guarded settlements.

-- 1. Ledger entries say whether they are a sync call or an async task, and which task/batch.
--    ADD COLUMN on the partitioned parent reaches every partition; existing rows are 'sync'.
ALTER TABLE ledger_entries
    ADD COLUMN mode text NOT NULL DEFAULT 'sync'
        CONSTRAINT ledger_entries_mode_known CHECK (mode IN ('sync', 'async')),
    -- cloro's task id, known once its create reply arrives (NULL until then, and for sync).
    ADD COLUMN task_id uuid NULL,
    ADD COLUMN batch_id uuid NULL;

-- For an async entry, `pending_at` is the task's settle-by time (its retention upstream), not
-- the time of the PENDING write: the sweeper's deadline counts from it, so it expires an async
-- entry only once cloro can no longer report the task's charge.

-- The append-only rules, as in 20261130000001, with the new columns:
--   * `mode` and `batch_id` identify the entry like the other identity columns;
--   * `task_id` may be learned once, NULL -> a value, while the entry is PENDING (an UPDATE
--     that changes nothing else and leaves it PENDING) or as it settles; never changed after.
CREATE OR REPLACE FUNCTION ledger_entries_refuse_rewrite()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ledger_entries is append-only: DELETE of entry % refused', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;

    IF OLD.status <> 'PENDING' THEN
        RAISE EXCEPTION 'ledger entry % is already settled as %; it cannot change', OLD.id, OLD.status
            USING ERRCODE = 'restrict_violation';
    END IF;

    IF OLD.task_id IS NOT NULL AND NEW.task_id IS DISTINCT FROM OLD.task_id THEN
        RAISE EXCEPTION 'ledger entry % already has task id %', OLD.id, OLD.task_id
            USING ERRCODE = 'restrict_violation';
    END IF;

    IF NEW.status = 'PENDING' THEN
        IF OLD.task_id IS NOT NULL OR NEW.task_id IS NULL
            OR NEW.charged IS DISTINCT FROM OLD.charged
            OR NEW.flagged IS DISTINCT FROM OLD.flagged
            OR NEW.flag_reason IS DISTINCT FROM OLD.flag_reason
            OR NEW.upstream_status IS DISTINCT FROM OLD.upstream_status
            OR NEW.void_reason IS DISTINCT FROM OLD.void_reason
            OR NEW.settled_at IS DISTINCT FROM OLD.settled_at
        THEN
            RAISE EXCEPTION 'ledger entry % may only move from PENDING to a final status, or learn its task id',
                OLD.id
                USING ERRCODE = 'restrict_violation';
        END IF;
    ELSIF NEW.status NOT IN ('POSTED', 'VOIDED', 'EXPIRED') THEN
        RAISE EXCEPTION 'ledger entry % may only move from PENDING to a final status, not to %',
            OLD.id, NEW.status
            USING ERRCODE = 'restrict_violation';
    END IF;

    IF NEW.id IS DISTINCT FROM OLD.id
        OR NEW.created_at IS DISTINCT FROM OLD.created_at
        OR NEW.team_id IS DISTINCT FROM OLD.team_id
        OR NEW.endpoint IS DISTINCT FROM OLD.endpoint
        OR NEW.estimate IS DISTINCT FROM OLD.estimate
        OR NEW.client_request_id IS DISTINCT FROM OLD.client_request_id
        OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key
        OR NEW.pending_at IS DISTINCT FROM OLD.pending_at
        OR NEW.mode IS DISTINCT FROM OLD.mode
        OR NEW.batch_id IS DISTINCT FROM OLD.batch_id
    THEN
        RAISE EXCEPTION 'ledger entry % may not change its identity columns', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;

    RETURN NEW;
END;
$$;

-- 2. Who owns each async task. `entry_id` is the ledger entry's id (a UUIDv7 whose timestamp is
--    its created_at, kept in `entry_created_at` so a join reads one ledger partition). There is
--    no foreign key to ledger_entries: a key referencing the partitioned ledger would stop
--    ensure_ledger_partitions from detaching the DEFAULT partition; both rows are written in
--    one transaction instead.
CREATE TABLE async_tasks (
    entry_id         uuid        PRIMARY KEY,
    entry_created_at timestamptz NOT NULL,
    team_id          uuid        NOT NULL REFERENCES teams (id),
    -- cloro's task id, known once the create reply arrives.
    task_id          uuid        NULL UNIQUE,
    batch_id         uuid        NULL,
    batch_index      integer     NULL CONSTRAINT async_tasks_batch_index_non_negative CHECK (batch_index >= 0),
    -- The monitor path the task runs, e.g. /v1/monitor/chatgpt, and cloro's taskType.
    endpoint         text        NOT NULL,
    task_type        text        NOT NULL,
    priority         smallint    NOT NULL CONSTRAINT async_tasks_priority_range CHECK (priority BETWEEN 1 AND 10),
    -- The team's own idempotencyKey, and the key the gateway sent upstream instead.
    team_key         text        NULL,
    upstream_key     text        NOT NULL UNIQUE,
    -- The team's webhook, which the gateway relays the completion to.
    webhook_url      text        NULL,
    -- The limiter's budget hold taken for the task at submit (opaque to the ledger), so
    -- whichever replica settles the task can replace the hold by the charge. NULL: no hold.
    lease            jsonb       NULL,
    state            text        NOT NULL DEFAULT 'SUBMITTED'
                                 CONSTRAINT async_tasks_state_known
                                 CHECK (state IN ('SUBMITTED', 'QUEUED', 'PROCESSING', 'COMPLETED',
                                                  'FAILED', 'REFUSED', 'GONE')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    settled_at       timestamptz NULL,
    -- A task is settled exactly when it is in a terminal state.
    CONSTRAINT async_tasks_settled_when_terminal CHECK (
        (settled_at IS NOT NULL) = (state IN ('COMPLETED', 'FAILED', 'REFUSED', 'GONE'))
    ),
    CONSTRAINT async_tasks_batch_index_in_batch CHECK (batch_index IS NULL OR batch_id IS NOT NULL),
    -- A team's idempotencyKey is used once (NULL keys are not compared).
    CONSTRAINT async_tasks_team_key_unique UNIQUE (team_id, team_key)
);

-- A team's queue counts (SUBMITTED/QUEUED, PROCESSING) and the cap checked at submit.
CREATE INDEX async_tasks_team_state_idx ON async_tasks (team_id, state, priority);
-- The poller walks unsettled tasks oldest first; settled ones never enter this index.
CREATE INDEX async_tasks_unsettled_idx ON async_tasks (created_at, entry_id) WHERE settled_at IS NULL;

-- 3. ensure_ledger_partitions as in 20261128000009, except that rows moved out of the DEFAULT
--    partition keep every column (pending_at, mode, task_id, batch_id included) rather than
--    taking the defaults again.
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
                     upstream_status, void_reason, settled_at, pending_at, mode, task_id,
                     batch_id)
                 SELECT id, created_at, team_id, endpoint, client_request_id,
                     idempotency_key, estimate, status, charged, flagged, flag_reason,
                     upstream_status, void_reason, settled_at, pending_at, mode, task_id,
                     batch_id
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
