-- iOS Live Activity push tokens, bound per activity id by the app (op
-- activity_token; mPaaS SDK liveActivityBindWithActivityId:pushToken:).
-- One row per (app, activity, device): the device's current token of the
-- activity; the newest version wins, and deleted = 1 once the activity
-- ended (op activity_token_remove) or APNs called the token dead. A Live
-- Activity lives 12 hours at most, so rows go after a week.
CREATE TABLE IF NOT EXISTS {db}.activity_tokens
(
    app_id      LowCardinality(String),
    activity_id String,
    device_id   String,
    token       String,
    deleted     UInt8,
    version     DateTime64(3, 'UTC'),
    INDEX token_idx token TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (app_id, activity_id, device_id)
TTL toDateTime(version) + INTERVAL 7 DAY;
