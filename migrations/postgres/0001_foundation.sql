-- Foundation tables: filing-system clients and their API keys, reviewer accounts,
-- single-use tokens and rate-limit counters.
-- Times are timestamptz; SQLite stores INTEGER milliseconds since the Unix epoch.

create table clients (
    id text primary key,                      -- cli_<hex>
    name text not null,
    webhook_url text,                         -- where signed events are POSTed; null = none
    revoked_at timestamptz,                       -- a revoked client's keys all stop working
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint clients_name_key unique (name)
);

create table client_keys (
    id text primary key,                      -- key_<hex>
    client_id text not null references clients (id) on delete cascade,
    key_hash text not null,                   -- SHA-256 (hex) of the full API key; the key itself is never stored
    key_prefix text not null,                 -- first characters of the key, shown to operators to tell keys apart
    revoked_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint client_keys_key_hash_key unique (key_hash)
);
create index client_keys_client_id_idx on client_keys (client_id);

create table reviewers (
    id text primary key,                      -- rev_<hex>
    username text not null,
    display_name text not null,
    password_hash text not null,              -- argon2id PHC string
    roles text not null,                      -- comma-separated: reviewer, auditor
    disabled_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint reviewers_username_key unique (username)
);

-- One-time tokens (liveness nonces and the like): consumed by a conditional update, so
-- of any number of concurrent consumers exactly one wins.
create table single_use_tokens (
    purpose text not null,                    -- what the token is for, e.g. liveness_nonce
    token_hash text not null,                 -- HMAC (hex) of the token; never the token itself
    subject text not null,                    -- what the token grants access to (a record id)
    expires_at timestamptz not null,
    consumed_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint single_use_tokens_pkey primary key (purpose, token_hash)
);

-- Fixed-window counters for rate limits and quotas.
create table rate_counters (
    counter_key text not null,                -- e.g. sms_phone:<hmac>; never raw personal data
    window_start timestamptz not null,
    count bigint not null,
    expires_at timestamptz not null,              -- when the row may be deleted
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint rate_counters_pkey primary key (counter_key, window_start)
);
create index rate_counters_expires_at_idx on rate_counters (expires_at);
