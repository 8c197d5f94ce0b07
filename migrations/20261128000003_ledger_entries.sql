-- The two-phase credit ledger: one row per upstream call that can charge.
-- A row is written PENDING (and committed) before the call is sent, then settled exactly once:
--   POSTED  charged = the upstream's X-Credits-Charged
--   VOIDED  charged = 0 (the upstream refused the call; nothing was charged)
--   EXPIRED charged = estimate, flagged (the sweeper resolved an entry that outlived its deadline)
-- Partitioned by month on created_at, which the gateway derives from the UUIDv7 id, so a lookup
-- by id can always add `created_at = $2` and touch a single partition.
CREATE TABLE ledger_entries (
    id                uuid        NOT NULL,
    created_at        timestamptz NOT NULL,
    team_id           uuid        NOT NULL REFERENCES teams (id),
    endpoint          text        NOT NULL,
    client_request_id text        NULL,
    idempotency_key   text        NULL,
    estimate          bigint      NOT NULL CONSTRAINT ledger_entries_estimate_non_negative CHECK (estimate >= 0),
    status            text        NOT NULL DEFAULT 'PENDING'
                                  CONSTRAINT ledger_entries_status_known
                                  CHECK (status IN ('PENDING', 'POSTED', 'VOIDED', 'EXPIRED')),
    charged           bigint      NULL,
    flagged           boolean     NOT NULL DEFAULT false,
    flag_reason       text        NULL,
    upstream_status   integer     NULL,
    -- Why a VOIDED entry was voided (e.g. 'upstream 400', 'not sent: upstream unreachable').
    void_reason       text        NULL,
    settled_at        timestamptz NULL,
    PRIMARY KEY (id, created_at),
    -- What each status means for `charged` and `settled_at`, enforced rather than hoped for.
    CONSTRAINT ledger_entries_charge_matches_status CHECK (
        CASE status
            WHEN 'PENDING' THEN charged IS NULL AND settled_at IS NULL
            WHEN 'POSTED'  THEN charged IS NOT NULL AND charged >= 0 AND settled_at IS NOT NULL
            WHEN 'VOIDED'  THEN charged = 0 AND settled_at IS NOT NULL
            WHEN 'EXPIRED' THEN charged = estimate AND settled_at IS NOT NULL
        END
    ),
    CONSTRAINT ledger_entries_flag_has_reason CHECK (NOT flagged OR flag_reason IS NOT NULL),
    CONSTRAINT ledger_entries_void_has_reason CHECK ((status = 'VOIDED') = (void_reason IS NOT NULL))
) PARTITION BY RANGE (created_at);

-- Team-scoped reads and finance queries walk a team's entries in time order.
CREATE INDEX ledger_entries_team_created_idx ON ledger_entries (team_id, created_at, id);
-- The sweeper looks only at PENDING entries older than a cutoff; settled rows never enter this index.
CREATE INDEX ledger_entries_pending_idx ON ledger_entries (status, created_at) WHERE status = 'PENDING';
