-- Message templates per app (mPaaS §6.3): title and content with #name#
-- placeholders. A deletion is a row with deleted = 1; the newest version
-- of (app, name) wins.
CREATE TABLE IF NOT EXISTS {db}.templates
(
    app_id      LowCardinality(String),
    name        String,
    title       String,
    content     String,
    uri         String,
    description String,
    deleted     UInt8,
    version     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (app_id, name);
