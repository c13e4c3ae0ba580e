-- The outcome of each delivery: the first terminal event (acked, failed,
-- expired, revoked) the sender or the retry worker wrote for it. The event
-- sink reads it before it inserts a terminal event, so that a delivery a
-- replay made end a second, different way (a replayed attempt meeting
-- another vendor answer) keeps its first outcome; the later one is stored
-- as event 'superseded' and counted nowhere. Receipts are not outcomes.
-- Small granules: the sink looks rows up by (msg_id, delivery_id).
CREATE TABLE IF NOT EXISTS {db}.delivery_outcomes
(
    msg_id      String,
    delivery_id String,
    event_id    String,
    event       LowCardinality(String),
    ts          DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (msg_id, delivery_id, event_id)
TTL toDateTime(ts) + INTERVAL {ttl_days} DAY
SETTINGS index_granularity = 1024;
