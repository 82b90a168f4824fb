-- The App's side: SMS challenges, App sessions, and on the case the consent record and
-- the location result ("in Shanghai: yes/no" only; raw coordinates are never stored).
-- Times are timestamptz.

alter table cases add column consent_version text;          -- consent text version accepted
alter table cases add column consent_text_hash text;        -- SHA-256 (hex) of that text
alter table cases add column location_in_shanghai boolean;  -- null until reported

create table sms_challenges (
    id bigserial primary key,
    phone_hmac text not null,                  -- HMAC of the number; never the number
    case_id text not null references cases (id) on delete cascade,
    code_hash text not null,                   -- HMAC of the 6-digit code
    attempts integer not null default 0,       -- wrong tries so far; dead at the limit
    expires_at timestamptz not null,
    consumed_at timestamptz,                       -- a used code cannot be used again
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index sms_challenges_phone_idx on sms_challenges (phone_hmac, id);

create table app_sessions (
    token_hash text primary key,               -- SHA-256 (hex) of the bearer token
    case_id text not null references cases (id) on delete cascade,
    last_seen_at timestamptz not null,             -- idle expiry counts from here
    expires_at timestamptz not null,               -- absolute expiry
    revoked_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index app_sessions_case_idx on app_sessions (case_id);
