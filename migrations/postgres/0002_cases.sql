-- Cases registered by filing systems, their websites, photos, image verification codes,
-- the webhook outbox, the audit log and idempotency records.
-- Personal data is stored sealed (AES-256-GCM, see secrets.rs: "v1.<key id>.<base64>"),
-- with an HMAC beside it where lookups need equality, and a masked form for list views.
-- Times are timestamptz.

alter table clients add column webhook_secret_sealed text;   -- signs webhook bodies; sealed

create table cases (
    id text primary key,                       -- case_<hex>
    client_id text not null references clients (id),
    filing_id text not null,                   -- the filing system's own id
    region text not null,                      -- as registered, normalised (shanghai, …)
    subject_type text not null,                -- individual | enterprise
    subject_name_sealed text not null,
    subject_name_masked text not null,
    eligible boolean not null,
    ineligible_reason text,                    -- stable code when not eligible
    status text not null,                      -- see domain::case::CaseStatus
    download_token text not null,              -- in the QR code; 128 random bits, hex
    scan_count bigint not null default 0,
    redeem_locked_until timestamptz,               -- set after too many wrong codes
    phone_verified_at timestamptz,
    consent_at timestamptz,
    liveness_at timestamptz,
    handheld_at timestamptz,
    front_at timestamptz,
    back_at timestamptz,
    code_issued_at timestamptz,
    redeemed_at timestamptz,
    submitted_at timestamptz,
    due_at timestamptz,                            -- one business day after submission
    decided_at timestamptz,
    cancelled_at timestamptz,
    purged_at timestamptz,
    last_activity_at timestamptz not null,         -- drives the purge of abandoned cases
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint cases_client_filing_id_key unique (client_id, filing_id),
    constraint cases_download_token_key unique (download_token)
);
create index cases_status_idx on cases (status);

create table websites (
    id bigserial primary key,
    case_id text not null references cases (id) on delete cascade,
    position integer not null,                 -- order as registered
    domain text not null,
    principal_name_sealed text not null,
    principal_name_masked text not null,
    id_type text not null,                     -- resident_id_card | passport | …
    id_number_sealed text not null,
    id_number_masked text not null,
    id_number_hmac text not null,              -- equality across websites and attempt limits
    mobile_sealed text not null,
    mobile_masked text not null,
    mobile_hmac text not null,                 -- finds the case when the App asks for an SMS
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint websites_case_position_key unique (case_id, position)
);
create index websites_mobile_hmac_idx on websites (mobile_hmac);

create table photos (
    id bigserial primary key,
    case_id text not null references cases (id) on delete cascade,
    kind text not null,                        -- handheld | front | back | liveness
    blob_id text not null,                     -- encrypted, watermarked JPEG in the blob store
    width integer not null,
    height integer not null,
    size_bytes bigint not null,
    sha256 text not null,                      -- of the stored (watermarked) JPEG
    original_sha256 text not null,             -- of the upload, for audit; the original is never kept
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint photos_case_kind_key unique (case_id, kind)
);

create table verification_codes (
    id bigserial primary key,
    case_id text not null references cases (id) on delete cascade,
    code_hash text not null,                   -- HMAC of the normalised code
    expires_at timestamptz not null,
    redeemed_at timestamptz,
    voided_at timestamptz,                         -- a newer code voids the older ones
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index verification_codes_case_idx on verification_codes (case_id);

create table webhook_outbox (
    id text primary key,                       -- evt_<hex>; receivers drop duplicates by it
    client_id text not null references clients (id),
    event_type text not null,                  -- case.completed | case.decided | case.purged
    payload text not null,                     -- the JSON body, exactly as signed and sent
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    locked_until timestamptz,                      -- a worker's lease while delivering
    delivered_at timestamptz,
    gave_up_at timestamptz,                        -- past the retry window
    last_error text,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index webhook_outbox_due_idx on webhook_outbox (delivered_at, gave_up_at, next_attempt_at);

-- Append-only; each entry carries the SHA-256 of the previous one (see store::audit_hash).
create table audit_log (
    seq bigint primary key,                    -- 1, 2, 3, … without gaps
    at timestamptz not null,
    actor_type text not null,                  -- client | app | reviewer | system | operator
    actor_id text not null,
    action text not null,                      -- e.g. case.registered, photo.pulled
    case_id text,
    ip text,
    details text not null,                     -- JSON, never raw personal data
    prev_hash text not null,
    hash text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index audit_log_case_idx on audit_log (case_id);

-- Idempotency-Key records for the filing system's POSTs, kept 24 hours.
create table idempotency_keys (
    client_id text not null references clients (id),
    idem_key text not null,
    request_hash text not null,                -- SHA-256 of method, path and body
    response_status integer,                   -- null while the first request is running
    response_body text,
    expires_at timestamptz not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    constraint idempotency_keys_pkey primary key (client_id, idem_key)
);
