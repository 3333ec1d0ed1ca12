-- A new bucket starts full. $1 tenant, $2 milli tokens, $3 now
INSERT INTO write_buckets (tenant, milli_tokens, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (tenant) DO NOTHING
