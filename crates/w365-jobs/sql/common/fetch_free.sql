-- The fetch statements' first common table expression (sqlite/fetch.sql, postgres/fetch.sql):
-- the free slots of every tenant that has available jobs, counted with index jobs_tenant_state.
-- A tenant may run max_running jobs at once (its own row in tenant_limits, else '*').
-- MATERIALIZED: computed once, before any queued job is read (SQLite 3.51 otherwise folds it into
-- the join and counts the tenants again for every queued job: 80 ms a fetch with 1,000 queued).
WITH free AS MATERIALIZED (
    SELECT t.tenant,
           COALESCE((SELECT max_running FROM tenant_limits l WHERE l.tenant = t.tenant),
                    (SELECT max_running FROM tenant_limits l WHERE l.tenant = '*'))
           - (SELECT COUNT(*) FROM jobs r WHERE r.state = 'running' AND r.tenant = t.tenant)
           AS n
    FROM (SELECT DISTINCT tenant FROM jobs WHERE state = 'available') t
)
