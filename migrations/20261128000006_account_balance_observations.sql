-- The account balance the upstream reported (X-Credits-Remaining), kept for reconciliation
-- against the ledger.
CREATE TABLE account_balance_observations (
    id                bigserial   PRIMARY KEY,
    observed_at       timestamptz NOT NULL DEFAULT now(),
    -- The ledger entry (request id) whose response carried the header, when there was one.
    request_id        uuid        NULL,
    credits_remaining bigint      NOT NULL
);

CREATE INDEX account_balance_observations_observed_at_idx ON account_balance_observations (observed_at);
