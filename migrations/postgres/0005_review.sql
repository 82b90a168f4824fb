-- The review desk: login failures and locks on reviewer accounts, reviewer sessions
-- (console cookie or API bearer token), the lease a reviewer holds on a case, and every
-- decision ever taken (a rejected case comes back and is decided again).
-- Times are timestamptz.

alter table reviewers add column failed_logins integer not null default 0;  -- since the last success or lock
alter table reviewers add column locked_until timestamptz;                        -- logins refused until then

create table reviewer_sessions (
    token_hash text primary key,               -- SHA-256 (hex) of the token; never the token
    reviewer_id text not null references reviewers (id) on delete cascade,
    csrf_token text not null,                  -- echoed in X-CSRF-Token by the console
    last_seen_at timestamptz not null,             -- idle expiry counts from here
    expires_at timestamptz not null,               -- absolute expiry
    revoked_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index reviewer_sessions_reviewer_idx on reviewer_sessions (reviewer_id);

alter table cases add column lease_reviewer_id text references reviewers (id);  -- who works on it
alter table cases add column lease_until timestamptz;                               -- until then
alter table cases add column decided_by text references reviewers (id);         -- the latest decision's reviewer
create index cases_due_idx on cases (status, due_at);

create table decisions (
    id bigserial primary key,
    case_id text not null references cases (id) on delete cascade,
    reviewer_id text not null references reviewers (id),
    decision text not null,                    -- approved | rejected
    reasons text not null,                     -- JSON [{code, step}], empty for approvals
    note text,                                 -- the reviewer's words; required for `other`
    submitted_at timestamptz not null,             -- when this round entered review
    decided_at timestamptz not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index decisions_case_idx on decisions (case_id, id);
