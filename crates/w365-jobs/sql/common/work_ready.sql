-- Follows common/fetch_free.sql: whether a fetch would find anything now ($1): a due job to
-- promote, or an available job of a tenant with room. A read, so a worker's idle poll takes no
-- write lock (SQLite) and no fetch lock (PostgreSQL) when there is nothing to take.
SELECT CASE WHEN EXISTS (
           SELECT 1 FROM jobs
           WHERE state IN ('scheduled', 'retryable', 'parked') AND scheduled_at <= $1
       ) OR EXISTS (SELECT 1 FROM free WHERE n > 0) THEN 1 ELSE 0 END AS ready
