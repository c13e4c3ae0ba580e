-- The request's notifyId of each delivery, when it set one: the recall
-- worker withdraws MiPush and Huawei notifications by it.
ALTER TABLE {db}.delivery_index ADD COLUMN IF NOT EXISTS notify_id String DEFAULT '';
