-- Example queries for analysts. Each runs as written against the sg
-- region (push_sg); use push_cn, push_eu, ... for the other regions.
-- Statistics count distinct event ids (uniqExact / uniqExactMerge), so a
-- replayed event is never counted twice. A test executes every query.

-- name: core_metrics_by_day
-- The mPaaS data overview: pushed, succeeded, arrived, opened, ignored per
-- day over the last 30 days, with the arrival, open and ignore rates.
-- Pushed counts deliveries (valid) and messages to invalid targets
-- (invalid_device); succeeded the deliveries a channel accepted (acked).
SELECT
    toDate(minute) AS day,
    uniqExactMergeIf(events, event IN ('valid', 'invalid_device')) AS pushed,
    uniqExactMergeIf(events, event = 'acked')   AS succeeded,
    uniqExactMergeIf(events, event = 'arrived') AS arrived,
    uniqExactMergeIf(events, event = 'opened')  AS opened,
    uniqExactMergeIf(events, event = 'ignored') AS ignored,
    round(arrived / nullIf(pushed, 0), 4)  AS arrival_rate,
    round(opened / nullIf(arrived, 0), 4)  AS open_rate,
    round(ignored / nullIf(arrived, 0), 4) AS ignore_rate
FROM push_sg.events_minute
WHERE minute >= now() - INTERVAL 30 DAY
GROUP BY day
ORDER BY day;

-- name: core_metrics_by_app_version
-- The data overview per app version over the last 90 days (the version the
-- device reported; '' for targets without a device).
SELECT
    app_version,
    uniqExactMergeIf(events, event IN ('valid', 'invalid_device')) AS pushed,
    uniqExactMergeIf(events, event = 'acked')   AS succeeded,
    uniqExactMergeIf(events, event = 'arrived') AS arrived,
    uniqExactMergeIf(events, event = 'opened')  AS opened,
    uniqExactMergeIf(events, event = 'ignored') AS ignored,
    round(arrived / nullIf(pushed, 0), 4) AS arrival_rate
FROM push_sg.events_minute
WHERE app_id = 'ONEX570DA89211721' AND minute >= now() - INTERVAL 90 DAY
GROUP BY app_version
ORDER BY pushed DESC;

-- name: delivery_rate_by_channel
-- Share of deliveries each channel accepted in the last 7 days.
SELECT
    channel,
    uniqExactMergeIf(events, event = 'valid') AS deliveries,
    uniqExactMergeIf(events, event = 'acked') AS succeeded,
    round(succeeded / nullIf(deliveries, 0), 4) AS success_rate
FROM push_sg.events_minute
WHERE minute >= now() - INTERVAL 7 DAY AND event IN ('valid', 'acked')
GROUP BY channel
ORDER BY deliveries DESC;

-- name: task_funnel
-- The funnel of one task (replace the task id).
SELECT
    uniqExactIf(event_id, event = 'planned')        AS planned,
    uniqExactIf(event_id, event = 'invalid_device') AS invalid_devices,
    uniqExactIf(event_id, event = 'filtered')       AS filtered,
    uniqExactIf(event_id, event = 'valid')          AS valid,
    uniqExactIf(event_id, event = 'acked')          AS acked,
    uniqExactIf(event_id, event = 'arrived')        AS arrived,
    uniqExactIf(event_id, event = 'opened')         AS opened
FROM push_sg.events
WHERE task_id = 'demo-task-1';

-- name: failures_by_status
-- Why deliveries failed or were dropped in the last day, by status code.
SELECT event, channel, status_code, any(status_desc) AS example, uniqExact(event_id) AS n
FROM push_sg.events
WHERE ts >= now() - INTERVAL 1 DAY
  AND event IN ('failed', 'expired', 'invalid_device', 'filtered', 'rejected')
GROUP BY event, channel, status_code
ORDER BY n DESC
LIMIT 50;

-- name: send_latency_percentiles
-- Request accepted -> vendor acknowledged, per channel, last hour.
SELECT channel,
       quantile(0.5)(latency_ms)   AS p50_ms,
       quantile(0.99)(latency_ms)  AS p99_ms,
       quantile(0.999)(latency_ms) AS p999_ms,
       count() AS acked
FROM push_sg.events FINAL
WHERE event = 'acked' AND ts >= now() - INTERVAL 1 HOUR
GROUP BY channel;

-- name: device_status
-- What the registry knows of a device (the mPaaS device status query).
SELECT device_id, platform, vendor, token_valid, user_id, alias, user_account, app_version, model, updated_at
FROM push_sg.devices FINAL
WHERE app_id = 'ONEX570DA89211721' AND device_id = 'demo-device-1';

-- name: tasks_last_week
-- The task list: pushed, succeeded and arrived per task, newest first.
SELECT task_id, any(push_type) AS push_type,
       uniqExactIf(event_id, event IN ('valid', 'invalid_device')) AS push_num,
       uniqExactIf(event_id, event = 'acked')   AS push_success_num,
       uniqExactIf(event_id, event = 'arrived') AS push_arrival_num,
       min(ts) AS start, max(ts) AS end
FROM push_sg.events
WHERE ts >= now() - INTERVAL 7 DAY AND task_id != ''
GROUP BY task_id
ORDER BY start DESC
LIMIT 100;

-- name: tag_users
-- The users carrying a tag now (removed memberships left out).
SELECT user_id
FROM push_sg.tags FINAL
WHERE app_id = 'ONEX570DA89211721' AND tag = 'gold' AND deleted = 0
ORDER BY user_id;

-- name: broadcast_tags_audience
-- The devices a broadcast with tags ["vip","gold"] to Android devices of
-- bound users reaches: bound devices whose user carries any of the tags.
SELECT DISTINCT d.device_id, d.vendor, d.vendor_token
FROM (SELECT device_id, vendor, vendor_token, user_id, platform FROM push_sg.devices FINAL
      WHERE app_id = 'ONEX570DA89211721') AS d
INNER JOIN (SELECT user_id FROM push_sg.tags FINAL
            WHERE app_id = 'ONEX570DA89211721' AND tag IN ('vip', 'gold') AND deleted = 0) AS t
    ON d.user_id = t.user_id
WHERE d.platform = 'android' AND d.user_id != '';

-- name: empty_broadcasts
-- Broadcasts accepted with an empty audience in the last 7 days.
SELECT task_id, ts, status_desc
FROM push_sg.events
WHERE event = 'accepted' AND startsWith(status_desc, 'SUCCESS: audience empty') AND ts >= now() - INTERVAL 7 DAY
ORDER BY ts DESC;
