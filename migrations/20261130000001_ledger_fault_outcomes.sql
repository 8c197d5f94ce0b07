-- What the ledger needs to stay exact under faults.
--
-- 1. `pending_at`: when the PENDING row was written. `created_at` comes from the request id
--    (the request's arrival), which can be long before the entry is recorded (a wait in the
--    fair queue); the sweeper's deadline counts from this instead, so it never expires an
--    entry whose upstream call may still be running.
ALTER TABLE ledger_entries ADD COLUMN pending_at timestamptz NOT NULL DEFAULT now();

DROP INDEX ledger_entries_pending_idx;
CREATE INDEX ledger_entries_pending_at_idx ON ledger_entries (pending_at) WHERE status = 'PENDING';

-- `pending_at` identifies the entry like the other columns: settling never changes it.
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

    IF NEW.status NOT IN ('POSTED', 'VOIDED', 'EXPIRED') THEN
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
    THEN
        RAISE EXCEPTION 'ledger entry % may not change its identity columns', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;

    RETURN NEW;
END;
$$;

-- 2. A VOID that arrives after the sweeper EXPIRED the entry (the call was refused, or never
--    sent, but the gateway learned it too late) is a late settlement too: recorded here with
--    charged = 0 and the reason, so the entry's effective charge is 0.
ALTER TABLE ledger_late_charges ADD COLUMN void_reason text NULL;

-- 3. An in-progress Idempotency-Key holds a lease: once it has passed (the request's process
--    died), the key is resolved from its ledger entry instead of answering 409 forever.
ALTER TABLE idempotency_keys ADD COLUMN lease_expires_at timestamptz NULL;
UPDATE idempotency_keys SET lease_expires_at = expires_at WHERE state = 'in_progress';

-- 4. Rollups carry the late settlements too: `late_delta` is the sum of (late charge -
--    estimate) of the day's entries that settled after the sweeper expired them, so a
--    rollup's effective charge is `charged + late_delta`. Kept by the database like the rest.
ALTER TABLE ledger_daily_rollups ADD COLUMN late_delta bigint NOT NULL DEFAULT 0;

CREATE FUNCTION ledger_daily_rollups_add_late()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO ledger_daily_rollups AS rollup
        (day, team_id, endpoint, entries, posted, voided, expired, flagged, estimate, charged,
         late_delta)
    SELECT (entry_created_at AT TIME ZONE 'UTC')::date, team_id, endpoint,
           0, 0, 0, 0, 0, 0, 0, sum(charged - estimate)
    FROM late_rows
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (day, team_id, endpoint) DO UPDATE SET
        late_delta = rollup.late_delta + excluded.late_delta;
    RETURN NULL;
END;
$$;

CREATE TRIGGER ledger_daily_rollups_on_late
    AFTER INSERT ON ledger_late_charges
    REFERENCING NEW TABLE AS late_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_daily_rollups_add_late();

-- Backfill the late charges already recorded (the trigger above holds writes off until commit).
UPDATE ledger_daily_rollups AS rollup
SET late_delta = late.delta
FROM (
    SELECT (entry_created_at AT TIME ZONE 'UTC')::date AS day, team_id, endpoint,
           sum(charged - estimate) AS delta
    FROM ledger_late_charges
    GROUP BY 1, 2, 3
) AS late
WHERE rollup.day = late.day AND rollup.team_id = late.team_id AND rollup.endpoint = late.endpoint;
