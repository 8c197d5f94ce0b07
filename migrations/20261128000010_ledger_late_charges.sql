-- The real upstream charge of an entry that the sweeper had already EXPIRED (charged at its
-- estimate and flagged) when the charge arrived. The entry itself never changes again
-- (append-only); the late charge is recorded here, once, for reconciliation.
CREATE TABLE ledger_late_charges (
    entry_id         uuid        PRIMARY KEY,
    -- The entry's created_at, so a join to ledger_entries reads one partition.
    entry_created_at timestamptz NOT NULL,
    team_id          uuid        NOT NULL,
    endpoint         text        NOT NULL,
    -- What the entry was charged when it expired (its estimate), and what the upstream charged.
    estimate         bigint      NOT NULL,
    charged          bigint      NOT NULL CONSTRAINT ledger_late_charges_charged_non_negative CHECK (charged >= 0),
    upstream_status  integer     NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);

-- Reconciliation joins late charges of the entries it looks at; this keeps the join cheap.
CREATE INDEX ledger_late_charges_entry_created_at_idx ON ledger_late_charges (entry_created_at);

-- Append-only, like the ledger itself: UPDATE, DELETE and TRUNCATE are refused.
CREATE FUNCTION ledger_late_charges_refuse_rewrite()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'ledger_late_charges is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER ledger_late_charges_append_only
    BEFORE UPDATE OR DELETE ON ledger_late_charges
    FOR EACH ROW EXECUTE FUNCTION ledger_late_charges_refuse_rewrite();

CREATE TRIGGER ledger_late_charges_no_truncate
    BEFORE TRUNCATE ON ledger_late_charges
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_late_charges_refuse_rewrite();
