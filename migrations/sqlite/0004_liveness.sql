-- The liveness check's outcome on the case, for reviewers: which actions were asked and
-- what the frames showed (JSON, no image data). Challenges live in single_use_tokens;
-- per-case attempt counts in rate_counters.

alter table cases add column liveness_result text;          -- JSON summary; null until passed
