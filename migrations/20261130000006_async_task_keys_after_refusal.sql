-- A task cloro refused (or that was never sent) does not use up its team's idempotencyKey: the
-- team may send the same task again once there is room. Keys stay unique among the tasks that
-- were not refused, and the gateway's upstream key with them.
ALTER TABLE async_tasks DROP CONSTRAINT async_tasks_team_key_unique;
ALTER TABLE async_tasks DROP CONSTRAINT async_tasks_upstream_key_key;

CREATE UNIQUE INDEX async_tasks_team_key_live
    ON async_tasks (team_id, team_key) WHERE state <> 'REFUSED';
CREATE UNIQUE INDEX async_tasks_upstream_key_live
    ON async_tasks (upstream_key) WHERE state <> 'REFUSED';
-- A delivery names its task by the upstream key, refused or not.
CREATE INDEX async_tasks_upstream_key ON async_tasks (upstream_key);
