-- Every JWT the gateway mints, so a token can be revoked by its jti before it expires.
CREATE TABLE issued_tokens (
    jti        uuid        PRIMARY KEY,
    -- NULL for admin and finance tokens, which are not tied to a team.
    team_id    uuid        NULL REFERENCES teams (id),
    role       text        NOT NULL
                           CONSTRAINT issued_tokens_role_known CHECK (role IN ('team', 'admin', 'finance')),
    subject    text        NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- A team token always names its team; admin and finance tokens never do.
    CONSTRAINT issued_tokens_team_matches_role CHECK ((role = 'team') = (team_id IS NOT NULL))
);

-- The revocation cache polls "revoked since <cursor>" every few seconds.
CREATE INDEX issued_tokens_revoked_at_idx ON issued_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX issued_tokens_team_id_idx ON issued_tokens (team_id) WHERE team_id IS NOT NULL;
