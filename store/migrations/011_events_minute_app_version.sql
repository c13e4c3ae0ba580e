-- Per-minute aggregates for statistics over long ranges, by app, platform,
-- channel, push type, task and app version (the mPaaS data overview filters
-- by version, §6.1). Each cell keeps the exact set of its events' ids, as
-- 64-bit hashes (cityHash64(event_id)), so an event inserted twice (a replay)
-- is counted once: read it with uniqExactMerge(events). Hashes merge about a
-- third faster than the ids' strings; two of 10 million ids share one with a
-- chance of about 3 in a million. Migrate rebuilds a table from before the
-- hashes or before app_version from events (setAsideEventsMinute,
-- backfillEventsMinute).
CREATE TABLE IF NOT EXISTS {db}.events_minute
(
    minute      DateTime('UTC'),
    app_id      LowCardinality(String),
    platform    LowCardinality(String),
    channel     LowCardinality(String),
    push_type   LowCardinality(String),
    task_id     String,
    app_version LowCardinality(String),
    event       LowCardinality(String),
    events      AggregateFunction(uniqExact, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (app_id, event, minute, platform, channel, push_type, task_id, app_version)
TTL minute + INTERVAL {ttl_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_minute_mv TO {db}.events_minute AS
SELECT
    toStartOfMinute(ts) AS minute,
    app_id, platform, channel, push_type, task_id, app_version, event,
    uniqExactState(cityHash64(event_id)) AS events
FROM {db}.events
GROUP BY minute, app_id, platform, channel, push_type, task_id, app_version, event;
