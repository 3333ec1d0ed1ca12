-- A take from a tenant's write budget in one call (one round trip from the worker, where the
-- statements of store.rs's take_write_budget were one each): the tenant's limits read (its own
-- row, else '*', else the defaults given), then, unless `need` exceeds the capacity, the bucket
-- created full if new, locked, refilled for the time since it was last taken from, and `need`
-- taken when that much is there. Returns what was available before the take (>= need * 1000:
-- granted; NULL: need exceeds the capacity, nothing taken), with the capacity and refill rate it
-- used. Amounts in the bucket are thousandths of a write, times microseconds since the epoch; the
-- refill is truncated as in store.rs's SQLite path (integer division). Its commit need not wait
-- for the WAL flush (lost in a server crash, the taken writes are simply there again).
CREATE FUNCTION w365_take_write_budget(
    p_tenant TEXT,
    p_now BIGINT,
    p_need BIGINT,
    p_default_capacity BIGINT,
    p_default_refill_per_hour BIGINT
) RETURNS TABLE (out_available BIGINT, out_capacity BIGINT, out_refill_per_hour BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_capacity BIGINT;
    v_refill BIGINT;
    v_milli BIGINT;
    v_updated BIGINT;
    v_available BIGINT;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT l.write_capacity, l.write_refill_per_hour INTO v_capacity, v_refill
    FROM tenant_limits l
    WHERE l.tenant = p_tenant OR l.tenant = '*'
    ORDER BY CASE WHEN l.tenant = '*' THEN 1 ELSE 0 END
    LIMIT 1;
    IF NOT FOUND THEN
        v_capacity := p_default_capacity;
        v_refill := p_default_refill_per_hour;
    END IF;
    IF p_need > v_capacity THEN
        RETURN QUERY SELECT NULL::BIGINT, v_capacity, v_refill;
        RETURN;
    END IF;
    INSERT INTO write_buckets (tenant, milli_tokens, updated_at)
    VALUES (p_tenant, v_capacity * 1000, p_now)
    ON CONFLICT (tenant) DO NOTHING;
    SELECT b.milli_tokens, b.updated_at INTO v_milli, v_updated
    FROM write_buckets b WHERE b.tenant = p_tenant FOR UPDATE;
    v_available := LEAST(
        v_milli + div(GREATEST(p_now - v_updated, 0)::NUMERIC * v_refill * 1000,
                      3600000000)::BIGINT,
        v_capacity * 1000);
    IF v_available >= p_need * 1000 THEN
        UPDATE write_buckets SET milli_tokens = v_available - p_need * 1000, updated_at = p_now
        WHERE tenant = p_tenant;
    END IF;
    RETURN QUERY SELECT v_available, v_capacity, v_refill;
END
$$;
