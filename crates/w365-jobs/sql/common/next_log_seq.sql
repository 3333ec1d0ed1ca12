-- Takes the next log seq of an unfinished job (lines written by the store itself).
UPDATE jobs SET log_seq = log_seq + 1 WHERE id = $1 RETURNING log_seq
