-- The vendor's own message id (MiPush msg_id, vivo taskId, HMS requestId...)
-- on the events that carry one, mostly acked: a revoke recalls an accepted
-- message from the vendor by this id.
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS vendor_msg_id String;
