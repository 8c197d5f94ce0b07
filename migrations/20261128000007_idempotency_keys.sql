-- Idempotency-Key store: one row per (team, key). A request that starts with a key claims the
-- row (in_progress); when it completes, its response is stored so a retry with the same key and
-- the same body gets the same answer without being charged twice.
CREATE TABLE idempotency_keys (
    team_id          uuid        NOT NULL REFERENCES teams (id),
    key              text        NOT NULL
                                 CONSTRAINT idempotency_keys_key_length CHECK (char_length(key) BETWEEN 1 AND 255),
    -- Hex SHA-256 of the request body: the same key with a different body is refused.
    body_hash        text        NOT NULL,
    request_id       uuid        NOT NULL,
    state            text        NOT NULL
                                 CONSTRAINT idempotency_keys_state_known CHECK (state IN ('in_progress', 'completed')),
    response_status  integer     NULL,
    response_headers jsonb       NULL,
    response_body    bytea       NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    PRIMARY KEY (team_id, key),
    CONSTRAINT idempotency_keys_completed_has_response CHECK (
        state = 'in_progress' OR (response_status IS NOT NULL AND response_headers IS NOT NULL AND response_body IS NOT NULL)
    )
);

-- For a periodic purge of expired keys.
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
