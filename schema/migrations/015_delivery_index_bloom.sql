-- The replay check of fanout (DeliveryIndex.Existing) asks, for every
-- delivery of a targeted request, whether its id is indexed. Almost every
-- id asked about is fresh; without this index each one still reads the
-- 8,192-row granule (of every part) its key falls in. The bloom filter
-- (one per granule, 0.001% false positives, about 3 bytes a row) skips
-- the granules that do not hold any id asked about, so a fresh id costs
-- next to no rows and an indexed one its granule. Parts written before
-- this migration are not indexed (no MATERIALIZE): they are read as
-- before until merges or the TTL replace them.
ALTER TABLE {db}.delivery_index ADD INDEX IF NOT EXISTS delivery_id_bloom delivery_id TYPE bloom_filter(0.00001) GRANULARITY 1;
