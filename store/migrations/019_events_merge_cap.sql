-- Merges of events whose cost a delivery does not grow with the data a
-- day holds. With no cap on the size of a merge, every new part of a busy
-- day was merged, again and again, into the day's growing large parts:
-- make bench's second broadcast of the same 1M deliveries, on the same
-- day's partition as the first, merged 9.4M rows of events (20.7 µs of
-- ClickHouse CPU a delivery) against 3.9M rows (8.2 µs) for the first.
-- A merge now makes parts of at most 32 MiB (about 500,000 events, some
-- 16 of the event sink's inserts): each event is rewritten about once
-- while its day is written, and a part at the cap is merged no more.
ALTER TABLE {db}.events MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 33554432;
-- A day that nobody has written to for a day (its partition's newest part
-- is a day old) is merged into one part, whatever its size, once: a
-- second rewrite of each event, so a day at rest is one part and the table
-- holds about one part a day of its TTL, plus the capped parts of the last
-- two days. An event written later into an old day (a late or replayed
-- event) makes its partition merge once more a day after it.
ALTER TABLE {db}.events MODIFY SETTING min_age_to_force_merge_seconds = 86400, min_age_to_force_merge_on_partition_only = 1, enable_max_bytes_limit_for_min_age_to_force_merge = 0;
