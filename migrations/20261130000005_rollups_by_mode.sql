-- Rollups by mode (issue 11): finance sees sync calls and async tasks apart in usage, so each
-- daily rollup row is now per (UTC day of created_at, team, endpoint, mode). The triggers of
-- 20261128000009 and 20261130000001 are replaced by the same ones grouping by mode as well.
--
-- Safe on a large ledger: ledger_entries is only read, never rewritten (ADD COLUMN with a
-- constant default is a catalog change, and only the small rollup table gets a new key).

-- 1. Hold off every write that reaches the rollups (settlements, imports, late charges) until
--    this migration commits, so none is counted under the old key or missed by the backfill
--    below. The lock waits for transactions already writing the ledger to finish; the new
--    trigger functions are the ones those that queue behind it run.
LOCK TABLE ledger_entries, ledger_late_charges IN SHARE ROW EXCLUSIVE MODE;

-- 2. The mode column, in the key. Every rollup row so far is booked as sync; step 3 moves out
--    the async tasks among them.
ALTER TABLE ledger_daily_rollups
    ADD COLUMN mode text NOT NULL DEFAULT 'sync'
        CONSTRAINT ledger_daily_rollups_mode_known CHECK (mode IN ('sync', 'async'));

ALTER TABLE ledger_daily_rollups DROP CONSTRAINT ledger_daily_rollups_pkey;
ALTER TABLE ledger_daily_rollups ADD PRIMARY KEY (day, team_id, endpoint, mode);

-- 3. Async tasks that settled (or got a late charge) before this migration were counted in the
--    rows that are now 'sync'. Every async entry has its async_tasks row (both are written in
--    one transaction, 20261130000003), so they are found through that table and a primary-key
--    lookup each, without scanning the ledger. Their share moves to new 'async' rows.
CREATE TEMPORARY TABLE rollups_async_share ON COMMIT DROP AS
SELECT day, team_id, endpoint,
       sum(entries)::bigint AS entries, sum(posted)::bigint AS posted,
       sum(voided)::bigint AS voided, sum(expired)::bigint AS expired,
       sum(flagged)::bigint AS flagged, sum(estimate)::bigint AS estimate,
       sum(charged)::bigint AS charged, sum(late_delta)::bigint AS late_delta
FROM (
    SELECT (e.created_at AT TIME ZONE 'UTC')::date AS day, e.team_id, e.endpoint,
           1 AS entries,
           (e.status = 'POSTED')::int AS posted,
           (e.status = 'VOIDED')::int AS voided,
           (e.status = 'EXPIRED')::int AS expired,
           e.flagged::int AS flagged,
           e.estimate,
           e.charged,
           0 AS late_delta
    FROM async_tasks t
    JOIN ledger_entries e ON e.id = t.entry_id AND e.created_at = t.entry_created_at
    WHERE e.mode = 'async' AND e.status <> 'PENDING'
    UNION ALL
    SELECT (l.entry_created_at AT TIME ZONE 'UTC')::date, l.team_id, l.endpoint,
           0, 0, 0, 0, 0, 0, 0, l.charged - l.estimate
    FROM async_tasks t
    JOIN ledger_late_charges l ON l.entry_id = t.entry_id
    JOIN ledger_entries e ON e.id = l.entry_id AND e.created_at = l.entry_created_at
    WHERE e.mode = 'async'
) AS async_settled
GROUP BY 1, 2, 3;

INSERT INTO ledger_daily_rollups
    (day, team_id, endpoint, mode, entries, posted, voided, expired, flagged, estimate, charged,
     late_delta)
SELECT day, team_id, endpoint, 'async', entries, posted, voided, expired, flagged, estimate,
       charged, late_delta
FROM rollups_async_share;

UPDATE ledger_daily_rollups AS rollup
SET entries    = rollup.entries    - share.entries,
    posted     = rollup.posted     - share.posted,
    voided     = rollup.voided     - share.voided,
    expired    = rollup.expired    - share.expired,
    flagged    = rollup.flagged    - share.flagged,
    estimate   = rollup.estimate   - share.estimate,
    charged    = rollup.charged    - share.charged,
    late_delta = rollup.late_delta - share.late_delta
FROM rollups_async_share AS share
WHERE rollup.mode = 'sync' AND rollup.day = share.day AND rollup.team_id = share.team_id
    AND rollup.endpoint = share.endpoint;

-- A (day, team, endpoint) that only had async tasks leaves an empty sync row behind.
DELETE FROM ledger_daily_rollups AS rollup
USING rollups_async_share AS share
WHERE rollup.mode = 'sync' AND rollup.day = share.day AND rollup.team_id = share.team_id
    AND rollup.endpoint = share.endpoint
    AND rollup.entries = 0 AND rollup.estimate = 0 AND rollup.charged = 0
    AND rollup.late_delta = 0;

-- 4. The triggers' functions, as before but grouping by the entry's mode too. Rows are still
--    aggregated and upserted in key order (day, team, endpoint, mode), so concurrent
--    settlement batches lock rollup rows in the same order and never deadlock.
CREATE OR REPLACE FUNCTION ledger_daily_rollups_add_inserted()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF current_setting('ledger.moving_partition_rows', true) = 'on' THEN
        RETURN NULL;
    END IF;

    INSERT INTO ledger_daily_rollups AS rollup
        (day, team_id, endpoint, mode, entries, posted, voided, expired, flagged, estimate,
         charged)
    SELECT (created_at AT TIME ZONE 'UTC')::date, team_id, endpoint, mode,
           count(*),
           count(*) FILTER (WHERE status = 'POSTED'),
           count(*) FILTER (WHERE status = 'VOIDED'),
           count(*) FILTER (WHERE status = 'EXPIRED'),
           count(*) FILTER (WHERE flagged),
           sum(estimate),
           sum(charged)
    FROM inserted_rows
    WHERE status <> 'PENDING'
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (day, team_id, endpoint, mode) DO UPDATE SET
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

-- `mode` never changes on UPDATE (an identity column for the append-only trigger), so the new
-- row's mode is the entry's.
CREATE OR REPLACE FUNCTION ledger_daily_rollups_add_settled()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO ledger_daily_rollups AS rollup
        (day, team_id, endpoint, mode, entries, posted, voided, expired, flagged, estimate,
         charged)
    SELECT (n.created_at AT TIME ZONE 'UTC')::date, n.team_id, n.endpoint, n.mode,
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
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (day, team_id, endpoint, mode) DO UPDATE SET
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

-- A late charge does not carry the mode; its entry (one primary-key lookup in one partition)
-- does. The entry always exists (a late charge is only written for an EXPIRED entry); were it
-- missing, the delta would still be kept, as sync, rather than lost.
CREATE OR REPLACE FUNCTION ledger_daily_rollups_add_late()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO ledger_daily_rollups AS rollup
        (day, team_id, endpoint, mode, entries, posted, voided, expired, flagged, estimate,
         charged, late_delta)
    SELECT (l.entry_created_at AT TIME ZONE 'UTC')::date, l.team_id, l.endpoint,
           COALESCE(e.mode, 'sync'),
           0, 0, 0, 0, 0, 0, 0, sum(l.charged - l.estimate)
    FROM late_rows l
    LEFT JOIN ledger_entries e ON e.id = l.entry_id AND e.created_at = l.entry_created_at
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (day, team_id, endpoint, mode) DO UPDATE SET
        late_delta = rollup.late_delta + excluded.late_delta;
    RETURN NULL;
END;
$$;
