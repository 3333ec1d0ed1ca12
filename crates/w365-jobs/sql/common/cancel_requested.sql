SELECT cancel_requested_at FROM jobs WHERE id = $1 AND state = 'running' AND lease_token = $2
