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
-- a delivery id.
CREATE TABLE IF NOT EXISTS {db}.delivery_tokens
(
    msg_id      String,
    token       String,
    app_id      LowCardinality(String),
    delivery_id String,
    ts          DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (msg_id, token, app_id, delivery_id)
TTL toDateTime(ts) + INTERVAL {ttl_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.delivery_tokens_mv TO {db}.delivery_tokens AS
SELECT msg_id, token, app_id, delivery_id, ts
FROM {db}.delivery_index
WHERE token != '';
