-- Merges were most of what ClickHouse spent on a delivery: the eventsink
-- inserts parts of about 30,000 events, and with the default
-- merge_selector_base (5) every event was rewritten about 2.4 times by
-- merges on its way to a large part, which cost more CPU than inserting
-- it (make bench, clickhouse-queries-e2e.txt: 25.7 µs of events merges
-- against 14.4 µs of events inserts a delivery; 4.3 µs of delivery_index
-- merges). A larger base merges more parts at once, so a row goes through
-- about half as many merges (log20 rather than log5 of the parts a day
-- holds), at the price of more parts at rest: reads of these tables probe
-- a few more parts (the statistics read events_minute; look-ups of
-- delivery_index skip the parts whose bloom filter rules an id out).
ALTER TABLE {db}.events MODIFY SETTING merge_selector_base = 20;
ALTER TABLE {db}.delivery_index MODIFY SETTING merge_selector_base = 20;
