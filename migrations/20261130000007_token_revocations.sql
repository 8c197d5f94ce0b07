-- Revocation of any token by (issuer, jti): the gateway's own tokens and those signed by a
-- partner key or an identity provider alike. This table is the authority on revocation;
-- `issued_tokens.revoked_at` stays as the listing attribute of minted tokens (and its rows
-- revoked before this table existed are still honoured, under the gateway's own issuer).
CREATE TABLE token_revocations (
    issuer     text        NOT NULL
                           CONSTRAINT token_revocations_issuer_length CHECK (char_length(issuer) BETWEEN 1 AND 200),
    jti        text        NOT NULL
                           CONSTRAINT token_revocations_jti_length CHECK (char_length(jti) BETWEEN 1 AND 200),
    revoked_at timestamptz NOT NULL DEFAULT now(),
    revoked_by text        NOT NULL,
    reason     text        NULL
                           CONSTRAINT token_revocations_reason_length CHECK (char_length(reason) <= 500),
    PRIMARY KEY (issuer, jti)
);

-- Every replica polls "revoked since <cursor>" every few seconds.
CREATE INDEX token_revocations_revoked_at_idx ON token_revocations (revoked_at);

-- "Revoke everything this subject holds": tokens of `subject` under `issuer` issued (`iat`)
-- before `not_before` are refused; tokens without `iat` are refused once a cut-off exists.
CREATE TABLE subject_cutoffs (
    issuer     text        NOT NULL
                           CONSTRAINT subject_cutoffs_issuer_length CHECK (char_length(issuer) BETWEEN 1 AND 200),
    subject    text        NOT NULL
                           CONSTRAINT subject_cutoffs_subject_length CHECK (char_length(subject) BETWEEN 1 AND 200),
    not_before timestamptz NOT NULL,
    set_at     timestamptz NOT NULL DEFAULT now(),
    set_by     text        NOT NULL,
    PRIMARY KEY (issuer, subject)
);

-- The token that minted a token, so revoking a token revokes what it minted.
ALTER TABLE issued_tokens
    ADD COLUMN minted_by_issuer text NULL,
    ADD COLUMN minted_by_jti    text NULL;
CREATE INDEX issued_tokens_minted_by_idx ON issued_tokens (minted_by_issuer, minted_by_jti)
    WHERE minted_by_jti IS NOT NULL;

-- The token an admin change was made with (NULL for the command line, which has none).
ALTER TABLE audit_log
    ADD COLUMN actor_issuer text NULL,
    ADD COLUMN actor_jti    text NULL;
