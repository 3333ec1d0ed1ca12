SELECT milli_tokens, updated_at FROM write_buckets WHERE tenant = $1 FOR UPDATE
