-- Alias and user account targets (MiPush §4): the device that set an alias
-- last receives it; a user account reaches its 10 most recent devices.
ALTER TABLE {db}.devices ADD COLUMN IF NOT EXISTS alias String;
ALTER TABLE {db}.devices ADD COLUMN IF NOT EXISTS alias_at DateTime64(3, 'UTC');
ALTER TABLE {db}.devices ADD COLUMN IF NOT EXISTS user_account String;
ALTER TABLE {db}.devices ADD COLUMN IF NOT EXISTS account_at DateTime64(3, 'UTC');

-- Tags are many-to-many between tags and user ids; a tag target reaches the
-- devices bound to its users. The newest version of (app, tag, user) wins.
CREATE TABLE IF NOT EXISTS {db}.tags
(
    app_id  LowCardinality(String),
    tag     String,
    user_id String,
    deleted UInt8,
    version DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (app_id, tag, user_id);
