-- The webhook relay (issue 11): a task a team submitted with its own `webhook.url` has its
-- completion relayed there once the gateway settles it, signed with the team's own secret in
-- cloro's scheme, retried with backoff. Deliveries are stored before the first attempt so a
-- restart resumes them, and every attempt is kept for the team to read.

-- 1. Each team's signing secret (`whsec_` + 64 hex), created on first use, rotated on demand.
CREATE TABLE team_webhook_secrets (
    team_id    uuid        PRIMARY KEY REFERENCES teams (id),
    secret     text        NOT NULL
                           CONSTRAINT team_webhook_secrets_format CHECK (secret ~ '^whsec_[0-9a-f]{64}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    rotated_at timestamptz NULL
);

-- 2. One relay per task (`entry_id` is its ledger entry): a second settlement path learning
--    the same completion finds the row there and relays nothing more.
CREATE TABLE webhook_deliveries (
    id              bigserial   PRIMARY KEY,
    entry_id        uuid        NOT NULL
                                CONSTRAINT webhook_deliveries_one_per_entry UNIQUE,
    team_id         uuid        NOT NULL REFERENCES teams (id),
    -- cloro's task id (NULL if the gateway never learned it); names the delivery to the team.
    task_id         uuid        NULL,
    url             text        NOT NULL,
    -- The task-status object as the team sees it (its own idempotencyKey, no webhook block).
    body            jsonb       NOT NULL,
    state           text        NOT NULL DEFAULT 'PENDING'
                                CONSTRAINT webhook_deliveries_state_known
                                CHECK (state IN ('PENDING', 'DELIVERED', 'FAILED')),
    -- Attempts made (and recorded) so far.
    attempts        integer     NOT NULL DEFAULT 0
                                CONSTRAINT webhook_deliveries_attempts_range CHECK (attempts BETWEEN 0 AND 100),
    -- When a PENDING delivery may next be attempted; a replica attempting it pushes this
    -- forward by a lease first, so no two attempts run at once. NULL once final.
    next_attempt_at timestamptz NULL,
    last_status     integer     NULL,
    last_error      text        NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz NULL,
    CONSTRAINT webhook_deliveries_pending_is_scheduled
        CHECK ((state = 'PENDING') = (next_attempt_at IS NOT NULL)),
    CONSTRAINT webhook_deliveries_delivered_at
        CHECK ((state = 'DELIVERED') = (delivered_at IS NOT NULL))
);

-- The resumer's scan: pending deliveries by due time; final ones never enter this index.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at, id)
    WHERE state = 'PENDING';
-- A team's deliveries newest first, optionally for one task.
CREATE INDEX webhook_deliveries_team_idx ON webhook_deliveries (team_id, id);
CREATE INDEX webhook_deliveries_team_task_idx ON webhook_deliveries (team_id, task_id, id)
    WHERE task_id IS NOT NULL;

-- 3. Every attempt, as the team's receiver answered it (a status, or why none came).
CREATE TABLE webhook_delivery_attempts (
    delivery_id bigint      NOT NULL REFERENCES webhook_deliveries (id),
    attempt     integer     NOT NULL CONSTRAINT webhook_delivery_attempts_attempt_positive CHECK (attempt >= 1),
    at          timestamptz NOT NULL DEFAULT now(),
    status      integer     NULL,
    error       text        NULL,
    PRIMARY KEY (delivery_id, attempt)
);
