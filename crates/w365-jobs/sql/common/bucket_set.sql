UPDATE write_buckets SET milli_tokens = $2, updated_at = $3 WHERE tenant = $1
