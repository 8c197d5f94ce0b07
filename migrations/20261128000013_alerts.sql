-- Alerts the gateway raised: a team's usage crossing its alert threshold in a budget period,
-- or the account balance cloro reported falling below the configured floor. One row per
-- (kind, subject, period): the unique dedupe key makes every replica agree on who raises it,
-- so each alert is logged, counted and sent to the webhook once.
CREATE TABLE alerts (
    id         bigserial   PRIMARY KEY,
    kind       text        NOT NULL
                           CONSTRAINT alerts_kind_known CHECK (kind IN ('team_budget_threshold', 'account_balance_floor')),
    -- The team for team alerts; NULL for account alerts.
    team_id    uuid        NULL REFERENCES teams (id),
    dedupe_key text        NOT NULL UNIQUE,
    raised_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    details    jsonb       NOT NULL,
    CONSTRAINT alerts_team_matches_kind CHECK ((kind = 'team_budget_threshold') = (team_id IS NOT NULL))
);

CREATE INDEX alerts_raised_at_idx ON alerts (raised_at, id);
CREATE INDEX alerts_team_idx ON alerts (team_id, id) WHERE team_id IS NOT NULL;
