-- A take from a tenant's write budget in one call (one round trip from the worker, where the
-- statements of store.rs's take_write_budget were one each): the bucket is created full if new,
-- locked, refilled for the time since it was last taken from, and `need` taken when that much is
-- there. Returns what was available before the take (>= need: granted). Amounts are thousandths
-- of a write, times microseconds since the epoch; the refill is truncated as in store.rs's
-- SQLite path (integer division). Its commit need not wait for the WAL flush (lost in a server
-- crash, the taken writes are simply there again).
CREATE FUNCTION w365_take_write_budget(
    p_tenant TEXT,
    p_capacity BIGINT,
    p_now BIGINT,
    p_refill_per_hour BIGINT,
    p_need BIGINT
) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    v_milli BIGINT;
    v_updated BIGINT;
    v_available BIGINT;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO write_buckets (tenant, milli_tokens, updated_at)
    VALUES (p_tenant, p_capacity, p_now)
    ON CONFLICT (tenant) DO NOTHING;
    SELECT milli_tokens, updated_at INTO v_milli, v_updated
    FROM write_buckets WHERE tenant = p_tenant FOR UPDATE;
    v_available := LEAST(
        v_milli + div(GREATEST(p_now - v_updated, 0)::NUMERIC * p_refill_per_hour * 1000,
                      3600000000)::BIGINT,
        p_capacity);
    IF v_available >= p_need THEN
        UPDATE write_buckets SET milli_tokens = v_available - p_need, updated_at = p_now
        WHERE tenant = p_tenant;
    END IF;
    RETURN v_available;
END
$$;
