-- The template a task rendered (on its accepted event), so that deleting a
-- template in use can be reported.
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS template LowCardinality(String);
