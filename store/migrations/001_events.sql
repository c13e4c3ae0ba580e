-- Every lifecycle event of every push. event_id is deterministic, so a
-- replayed Kafka record writes a row with the same key; ReplacingMergeTree
-- folds such rows together and statistics count distinct event ids.
CREATE TABLE IF NOT EXISTS {db}.events
(
    event_id     String,
    ts           DateTime64(3, 'UTC'),
    region       LowCardinality(String),
    app_id       LowCardinality(String),
    workspace_id LowCardinality(String),
    task_id      String,
    msg_id       String,
    push_type    LowCardinality(String),
    target       String,
    device_id    String,
    platform     LowCardinality(String),
    channel      LowCardinality(String),
    event        LowCardinality(String),
    status_code  Int64,
    status_desc  String,
    attempt      UInt16,
    latency_ms   Int64,
    app_version  LowCardinality(String),
    model        LowCardinality(String),
    inserted_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (app_id, task_id, msg_id, event, event_id)
TTL toDateTime(ts) + INTERVAL {ttl_days} DAY;
