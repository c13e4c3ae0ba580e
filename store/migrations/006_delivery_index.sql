-- Receipt correlation. Vendor receipts and client events name a delivery by
-- its delivery id (or, for a MiPush call to many regIds, by msg id and
-- regId); the event sink resolves them through these tables, which it fills
-- from every valid event it inserts.
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS delivery_id String;

-- One row per delivery; a replayed valid event writes an identical row that
-- merges away. ts is the valid event's time (the request's acceptance).
CREATE TABLE IF NOT EXISTS {db}.delivery_index
(
    delivery_id  String,
    app_id       LowCardinality(String),
    workspace_id LowCardinality(String),
    task_id      String,
    msg_id       String,
    push_type    LowCardinality(String),
    target       String,
    device_id    String,
    platform     LowCardinality(String),
    channel      LowCardinality(String),
    token        String,
    app_version  LowCardinality(String),
    model        LowCardinality(String),
    ts           DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY delivery_id
TTL toDateTime(ts) + INTERVAL {ttl_days} DAY;

-- (msg id, token) → delivery id, for receipts that name a token instead of
-- a delivery id, was a table of its own (delivery_tokens, filled by a
-- materialized view of delivery_index) until migration 017 made it the
-- projection tokens of delivery_index; Migrate converts a database that
-- still has the table (foldDeliveryTokens).
