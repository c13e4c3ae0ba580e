-- The task's name (the request's taskName) on its accepted event, for the
-- task list and its taskName filter (mPaaS QueryPushAnalysisTaskList).
-- Rows written before this column existed have an empty name.
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS task_name String;
