-- Overrides of the account's configured settings, set through the admin API and read by
-- every replica's directory: the upstream limits (all three together, or none) and a partial
-- override of the `[pricing]` table (a JSON object in the admin API's camelCase). NULL means
-- "as configured". One row, always present.
CREATE TABLE account_settings (
    id               boolean     PRIMARY KEY DEFAULT true
                                 CONSTRAINT account_settings_singleton CHECK (id),
    concurrency      integer     NULL
                                 CONSTRAINT account_settings_concurrency_range CHECK (concurrency BETWEEN 1 AND 100000),
    rps_per_endpoint double precision NULL
                                 CONSTRAINT account_settings_rps_range CHECK (rps_per_endpoint > 0 AND rps_per_endpoint <= 1000000),
    burst            integer     NULL
                                 CONSTRAINT account_settings_burst_range CHECK (burst BETWEEN 1 AND 1000000),
    pricing          jsonb       NULL
                                 CONSTRAINT account_settings_pricing_object CHECK (pricing IS NULL OR jsonb_typeof(pricing) = 'object'),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT account_settings_limits_together CHECK (
        (concurrency IS NULL) = (rps_per_endpoint IS NULL)
        AND (concurrency IS NULL) = (burst IS NULL)
    )
);

INSERT INTO account_settings (id) VALUES (true);
