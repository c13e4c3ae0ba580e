-- Phone numbers of users (registry ops set_phone / unset_phone), to which
-- the SMS supplement of a push (smsStrategy 1 or 2) is sent. One number
-- per (app, user); the newest version wins, deleted = 1 removes it.
CREATE TABLE IF NOT EXISTS {db}.user_phones
(
    app_id  LowCardinality(String),
    user_id String,
    phone   String,
    deleted UInt8,
    version DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (app_id, user_id);
