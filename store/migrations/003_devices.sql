-- The device registry that fanout resolves targets against. One row per
-- (app, device); the row with the newest updated_at wins.
CREATE TABLE IF NOT EXISTS {db}.devices
(
    app_id       LowCardinality(String),
    device_id    String,
    workspace_id LowCardinality(String),
    platform     LowCardinality(String),
    vendor       LowCardinality(String),
    vendor_token String,
    self_token   String,
    token_valid  UInt8 DEFAULT 1,
    app_version  LowCardinality(String),
    model        LowCardinality(String),
    user_id      String,
    bound_at     DateTime64(3, 'UTC'),
    unbound_at   DateTime64(3, 'UTC'),
    updated_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (app_id, device_id);
