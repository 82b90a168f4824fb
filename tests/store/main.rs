//! Store conformance suite: every behaviour the flow relies on, run against SQLite and
//! PostgreSQL with the same body (`on_both_databases!`).

#[path = "../support/mod.rs"]
mod support;

mod cases;
mod review;

use chrono::{DateTime, Utc};
use heyan::blob::BlobId;
use heyan::domain::ids::CaseId;
use heyan::store::{ChangeRecord, NewAuditEntry, NewEvent};
use sha2::{Digest, Sha256};

/// A blob id named after `name` (the same name, the same id), so tests can say which
/// photo is which.
pub fn blob(name: &str) -> BlobId {
    BlobId::parse(&hex::encode(&Sha256::digest(name.as_bytes())[..16])).expect("32 hex digits")
}

/// The audit entry (and webhook event) a status change writes in its own transaction.
pub fn change(
    case: &CaseId,
    action: &str,
    at: DateTime<Utc>,
    event: Option<NewEvent>,
) -> ChangeRecord {
    ChangeRecord {
        audit: NewAuditEntry {
            at,
            actor_type: "system".into(),
            actor_id: "conformance".into(),
            action: action.into(),
            case_id: Some(case.as_str().into()),
            ip: None,
            details: "{}".into(),
        },
        event,
    }
}

on_both_databases!(crate::cases =>
    migrating_twice_is_harmless,
    inserts_a_client_and_finds_it_by_key_hash,
    refuses_a_duplicate_client_name_and_keeps_the_first,
    get_client_of_an_unknown_id_is_not_found,
    lists_clients_oldest_first,
    inserts_a_reviewer_and_finds_it_by_username,
    refuses_a_duplicate_reviewer_username,
    consumes_a_token_exactly_once,
    reports_expired_and_unknown_tokens_and_deletes_expired_ones,
    a_tick_is_claimed_by_one_instance_at_a_time,
    thirty_two_racers_consume_one_token_once,
    refuses_a_duplicate_token,
    counts_concurrent_increments_without_loss,
    keeps_counter_windows_apart,
    deletes_only_expired_counters,
    idempotency_records_replay_refuse_and_expire,
    concurrent_audit_appends_form_one_unbroken_chain,
    audit_verify_accepts_an_intact_chain_across_pages,
    audit_verify_names_an_edited_entry,
    audit_verify_reports_a_deleted_entry_as_a_gap,
    audit_verify_reports_an_edited_prev_hash,
    audit_verify_cannot_see_a_deleted_last_entry,
    a_leased_event_is_not_handed_out_twice,
    a_retaken_photo_replaces_the_old_and_names_its_blob,
    a_code_is_redeemed_once_by_racers_and_voided_by_a_newer_code,
    a_status_change_writes_its_audit_entry_and_event_in_one_go,
    a_refused_transition_writes_no_audit_entry_and_no_event,
    events_are_claimed_per_client,
    redemption_tries_are_counted_before_they_are_checked,
    a_stale_unanswered_idempotency_claim_can_be_released,
    a_queued_sms_is_leased_once_retried_and_given_up,
);

/// The review desk (`ReviewStore`), under `review_desk::{sqlite,postgres}`.
mod review_desk {
    crate::on_both_databases!(crate::review =>
        login_failures_lock_the_account_at_the_fifth_and_count_again,
        concurrent_login_failures_are_all_counted,
        a_successful_login_resets_the_failure_count,
        a_password_reset_lifts_the_lock_and_ends_every_session,
        disabling_a_reviewer_ends_its_sessions,
        reviewer_sessions_are_found_touched_and_revoked,
        the_queue_is_ordered_by_due_time_and_filters_pages_and_counts,
        the_queue_shows_live_leases_and_hides_expired_ones,
        sixteen_concurrent_claimers_leave_exactly_one_holder,
        a_holder_renews_and_an_expired_lease_can_be_taken_over,
        only_the_lease_holder_decides_and_only_once,
        concurrent_decisions_record_exactly_one,
        a_rejection_clears_exactly_the_reopened_steps_and_stores_its_record,
        an_approval_keeps_every_step,
        review_counts_count_cases_in_review_and_overdue,
        purgeable_cases_follow_the_retention_rules,
        mark_purged_records_the_time_and_leaves_the_purge_list,
        a_capture_is_stored_only_while_the_app_may_take_it,
        a_purged_case_takes_no_new_code_and_no_sign_in,
        concurrent_retakes_of_one_photo_all_land_and_leave_one_row,
        redemption_racing_cancellation_never_fails,
    );
}
