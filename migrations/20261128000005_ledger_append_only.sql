-- The ledger is append-only, enforced by the database rather than by convention:
--   * DELETE and TRUNCATE are refused;
--   * UPDATE is allowed only to settle a PENDING entry into a final status
--     (POSTED, VOIDED or EXPIRED), and never changes what identifies the entry;
--   * a settled entry can never be changed again.
CREATE FUNCTION ledger_entries_refuse_rewrite()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ledger_entries is append-only: DELETE of entry % refused', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;

    IF OLD.status <> 'PENDING' THEN
        RAISE EXCEPTION 'ledger entry % is already settled as %; it cannot change', OLD.id, OLD.status
            USING ERRCODE = 'restrict_violation';
    END IF;

    IF NEW.status NOT IN ('POSTED', 'VOIDED', 'EXPIRED') THEN
        RAISE EXCEPTION 'ledger entry % may only move from PENDING to a final status, not to %',
            OLD.id, NEW.status
            USING ERRCODE = 'restrict_violation';
    END IF;

    IF NEW.id IS DISTINCT FROM OLD.id
        OR NEW.created_at IS DISTINCT FROM OLD.created_at
        OR NEW.team_id IS DISTINCT FROM OLD.team_id
        OR NEW.endpoint IS DISTINCT FROM OLD.endpoint
        OR NEW.estimate IS DISTINCT FROM OLD.estimate
        OR NEW.client_request_id IS DISTINCT FROM OLD.client_request_id
        OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key
    THEN
        RAISE EXCEPTION 'ledger entry % may not change its identity columns', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;

    RETURN NEW;
END;
$$;

CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_refuse_rewrite();

CREATE FUNCTION ledger_entries_refuse_truncate()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only: TRUNCATE refused'
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER ledger_entries_no_truncate
    BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_refuse_truncate();
