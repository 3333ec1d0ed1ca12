-- Follows common/fetch_free.sql: the tenants that may start jobs now, and how many each.
SELECT tenant, n FROM free WHERE n > 0
