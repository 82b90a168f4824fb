-- SMS codes wait here for the provider, so that asking for a code answers at once and the
-- same for every number; a worker sends them and retries while the code is still valid.
create table sms_outbox (
    id bigserial primary key,
    mobile_sealed text not null,               -- the number, sealed; opened only to send
    code_sealed text not null,                 -- the code, sealed
    ttl_minutes integer not null,              -- the validity the message states
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    expires_at timestamptz not null,           -- no try after the code itself expired
    locked_until timestamptz,                  -- leased to one worker
    sent_at timestamptz,
    gave_up_at timestamptz,
    last_error text,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index sms_outbox_due_idx on sms_outbox (next_attempt_at);
