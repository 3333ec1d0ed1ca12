-- The running jobs leased by worker $1 whose cancel was requested (its cancel watch).
SELECT id FROM jobs
WHERE state = 'running' AND lease_owner = $1 AND cancel_requested_at IS NOT NULL
