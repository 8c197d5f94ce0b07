-- Each team's share of cloro's async queue, which every team shares and which is FIFO within a
-- priority (1-10, higher first): the highest priority the team's tasks may ask for, and the
-- most tasks it may have queued at once (submitted or queued upstream, not yet running).
-- Quotas set before these caps existed get the built-in defaults of `limits.team_default`.
ALTER TABLE team_quotas
    ADD COLUMN max_priority     smallint NOT NULL DEFAULT 10
        CONSTRAINT team_quotas_max_priority_range CHECK (max_priority BETWEEN 1 AND 10),
    ADD COLUMN max_queued_tasks integer  NOT NULL DEFAULT 1000
        CONSTRAINT team_quotas_max_queued_tasks_range CHECK (max_queued_tasks BETWEEN 1 AND 1000000);
