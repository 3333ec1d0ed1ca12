//! OData query support for the simulator: `$filter` parsing and evaluation, `$select`, `$orderby`,
//! `$top`, `$count` and opaque `$skiptoken` paging.
