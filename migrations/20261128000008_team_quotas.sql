-- Each team's share of the account: its own rate and burst, concurrency, weight in fair
-- sharing, and credit budget per period (hard: refuse beyond it; soft: allow and flag).
-- A team without a row gets the gateway's configured defaults.
CREATE TABLE team_quotas (
    team_id             uuid        PRIMARY KEY REFERENCES teams (id),
    rps                 double precision NOT NULL
                        CONSTRAINT team_quotas_rps_range CHECK (rps > 0 AND rps <= 100000),
    burst               integer     NOT NULL
                        CONSTRAINT team_quotas_burst_range CHECK (burst BETWEEN 1 AND 100000),
    concurrency         integer     NOT NULL
                        CONSTRAINT team_quotas_concurrency_range CHECK (concurrency BETWEEN 1 AND 10000),
    weight              integer     NOT NULL DEFAULT 1
                        CONSTRAINT team_quotas_weight_range CHECK (weight BETWEEN 1 AND 1000),
    budget              bigint
                        CONSTRAINT team_quotas_budget_range CHECK (budget IS NULL OR budget >= 0),
    hard_budget         boolean     NOT NULL DEFAULT true,
    alert_threshold_pct smallint
                        CONSTRAINT team_quotas_alert_range CHECK (alert_threshold_pct IS NULL OR alert_threshold_pct BETWEEN 1 AND 100),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
