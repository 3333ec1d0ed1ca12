-- Due scheduled, retryable and parked jobs become available.
UPDATE jobs
SET state = 'available', parked_reason = NULL
WHERE state IN ('scheduled', 'retryable', 'parked') AND scheduled_at <= $1
