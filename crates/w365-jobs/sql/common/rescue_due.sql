-- Whether the rescuer has anything to do (a read, from the jobs_lease index): only then does it
-- take the write lock. $1 is now.
SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < $1 LIMIT 1
