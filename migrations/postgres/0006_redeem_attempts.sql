-- Wrong image verification codes are counted on the case row itself, before each code is
-- checked, so that racing redemptions cannot all slip under the limit.
alter table cases add column redeem_attempts integer not null default 0;  -- tries counted in the current run
alter table cases add column redeem_attempts_since timestamptz;           -- when that run began
