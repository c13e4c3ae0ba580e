-- Receipts that name a delivery by (msg id, token) are resolved through
-- the projection tokens of delivery_index: the index's own rows, kept a
-- second time in (msg_id, token) order inside each part. It replaces the
-- table delivery_tokens and its materialized view, which wrote every
-- delivery as a second row into a table of its own, with its own part per
-- insert and its own merges (a store experiment of 300,000 deliveries
-- inserted twice: 3.1 µs of ClickHouse CPU a delivery for the table and
-- view, inserts and merges, against 1.4 µs for the projection). Rows
-- without a token are in the projection too; LookupTokens never asks for
-- an empty token. A projection of a ReplacingMergeTree must say what a
-- merge that folds rows does to it: 'rebuild' builds it again from the
-- merged rows. Migrate fills the projection of parts written before this
-- migration and drops delivery_tokens once (foldDeliveryTokens).
ALTER TABLE {db}.delivery_index MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE {db}.delivery_index ADD PROJECTION IF NOT EXISTS tokens (SELECT msg_id, token, app_id, delivery_id ORDER BY (msg_id, token));
