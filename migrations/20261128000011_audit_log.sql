-- Every change an admin makes (teams, quotas, account settings, tokens), written in the same
-- transaction as the change itself: who did it, what, to which target, and the target before
-- and after as JSON (never a token's text or any secret). Append-only, enforced here.
CREATE TABLE audit_log (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text        NOT NULL
                            CONSTRAINT audit_log_actor_length CHECK (char_length(actor) BETWEEN 1 AND 200),
    action      text        NOT NULL
                            CONSTRAINT audit_log_action_length CHECK (char_length(action) BETWEEN 1 AND 100),
    target_type text        NOT NULL
                            CONSTRAINT audit_log_target_type_length CHECK (char_length(target_type) BETWEEN 1 AND 100),
    target_id   text        NOT NULL
                            CONSTRAINT audit_log_target_id_length CHECK (char_length(target_id) BETWEEN 1 AND 200),
    before      jsonb       NULL,
    after       jsonb       NULL
);

-- `GET /admin/audit` lists newest first (by id) under any mix of these filters.
CREATE INDEX audit_log_actor_idx ON audit_log (actor, id DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, id DESC);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, id DESC);
CREATE INDEX audit_log_at_idx ON audit_log (at, id);

CREATE FUNCTION audit_log_refuse_rewrite()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_rewrite();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_rewrite();
