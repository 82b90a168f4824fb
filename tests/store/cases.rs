//! The bodies of the conformance cases; each takes a fresh database.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use heyan::clock::to_millis;
use heyan::domain::case::{CaseStatus, PhotoKind, Region, SubjectType, TransitionError};
use heyan::domain::ids::{CaseId, ClientId, ClientKeyId, EventId, ReviewerId};
use heyan::domain::role::Role;
use heyan::flow::audit::{self, BrokenLink};
use heyan::store::{
    audit_hash, ConsumeOutcome, EventFailure, IdempotencyStart, IdempotencyState, NewAuditEntry,
    NewCase, NewClient, NewClientKey, NewEvent, NewReviewer, NewSingleUseToken, NewSms,
    NewVerificationCode, PhotoRecord, RedeemOutcome, Store, StoreError, GENESIS_HASH,
};

use crate::change;
use crate::support::TestDb;

fn now() -> DateTime<Utc> {
    to_millis(Utc::now())
}

fn new_client(name: &str, at: DateTime<Utc>) -> (NewClient, NewClientKey) {
    let id = ClientId::new();
    let key = NewClientKey {
        id: ClientKeyId::new(),
        client_id: id.clone(),
        key_hash: hex::encode(rand::random::<[u8; 32]>()),
        key_prefix: "hyk_abcdefgh".into(),
        created_at: at,
    };
    let client = NewClient {
        id,
        name: name.into(),
        webhook_url: Some("https://filing.example.com/hook".into()),
        webhook_secret_sealed: Some("v1.00000000.sealed".into()),
        created_at: at,
    };
    (client, key)
}

fn new_reviewer(username: &str) -> NewReviewer {
    NewReviewer {
        id: ReviewerId::new(),
        username: username.into(),
        display_name: "李审核".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        roles: vec![Role::Reviewer, Role::Auditor],
        created_at: now(),
    }
}

fn token(hash: &str, expires_at: DateTime<Utc>) -> NewSingleUseToken {
    NewSingleUseToken {
        purpose: "liveness_nonce".into(),
        token_hash: hash.into(),
        subject: "case_1".into(),
        expires_at,
        created_at: now(),
    }
}

pub async fn migrating_twice_is_harmless(db: TestDb) {
    let store = db.store();
    store.migrate().await.expect("second migration run");
    store.ping().await.expect("still answers");
}

pub async fn inserts_a_client_and_finds_it_by_key_hash(db: TestDb) {
    let store = db.store();
    let at = now();
    let (client, key) = new_client("阿里云备案", at);
    store.insert_client(&client, &key).await.expect("insert");

    let (found, found_key) = store
        .find_client_by_key_hash(&key.key_hash)
        .await
        .expect("query")
        .expect("the key is known");
    assert_eq!(found.id, client.id);
    assert_eq!(found.name, "阿里云备案");
    assert_eq!(found.webhook_url, client.webhook_url);
    assert_eq!(
        found.created_at, at,
        "times round-trip at millisecond precision"
    );
    assert_eq!(found.revoked_at, None);
    assert_eq!(found_key.id, key.id);
    assert_eq!(found_key.key_prefix, "hyk_abcdefgh");
    assert!(store
        .find_client_by_key_hash("00")
        .await
        .expect("query")
        .is_none());
    assert_eq!(store.get_client(&client.id).await.expect("get"), found);
}

pub async fn refuses_a_duplicate_client_name_and_keeps_the_first(db: TestDb) {
    let store = db.store();
    let (first, first_key) = new_client("dup", now());
    store
        .insert_client(&first, &first_key)
        .await
        .expect("first");
    let (second, second_key) = new_client("dup", now());
    let err = store
        .insert_client(&second, &second_key)
        .await
        .expect_err("duplicate name");
    assert!(
        matches!(
            err,
            StoreError::Conflict(heyan::error_code::ErrorCode::ClientNameTaken)
        ),
        "{err:?}"
    );
    // The transaction rolled back: the second key was not stored either.
    assert!(store
        .find_client_by_key_hash(&second_key.key_hash)
        .await
        .expect("query")
        .is_none());
    assert_eq!(store.list_clients().await.expect("list").len(), 1);
}

pub async fn get_client_of_an_unknown_id_is_not_found(db: TestDb) {
    let err = db
        .store()
        .get_client(&ClientId::new())
        .await
        .expect_err("unknown");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

pub async fn lists_clients_oldest_first(db: TestDb) {
    let store = db.store();
    let at = now();
    for (i, name) in ["b", "a", "c"].iter().enumerate() {
        let (c, k) = new_client(name, at + Duration::seconds(i as i64));
        store.insert_client(&c, &k).await.expect("insert");
    }
    let names: Vec<_> = store
        .list_clients()
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["b", "a", "c"]);
}

pub async fn inserts_a_reviewer_and_finds_it_by_username(db: TestDb) {
    let store = db.store();
    let reviewer = new_reviewer("li.lei");
    store.insert_reviewer(&reviewer).await.expect("insert");
    let found = store
        .find_reviewer_by_username("li.lei")
        .await
        .expect("query")
        .expect("found");
    assert_eq!(found.id, reviewer.id);
    assert_eq!(found.display_name, "李审核");
    assert_eq!(found.password_hash, reviewer.password_hash);
    assert_eq!(found.roles, vec![Role::Reviewer, Role::Auditor]);
    assert!(store
        .find_reviewer_by_username("han.meimei")
        .await
        .expect("query")
        .is_none());
}

pub async fn refuses_a_duplicate_reviewer_username(db: TestDb) {
    let store = db.store();
    store
        .insert_reviewer(&new_reviewer("li.lei"))
        .await
        .expect("first");
    let err = store
        .insert_reviewer(&new_reviewer("li.lei"))
        .await
        .expect_err("duplicate");
    assert!(
        matches!(
            err,
            StoreError::Conflict(heyan::error_code::ErrorCode::ReviewerUsernameTaken)
        ),
        "{err:?}"
    );
}

pub async fn consumes_a_token_exactly_once(db: TestDb) {
    let store = db.store();
    let at = now();
    store
        .insert_single_use_token(&token("t1", at + Duration::minutes(3)))
        .await
        .expect("insert");
    let first = store
        .consume_single_use_token("liveness_nonce", "t1", at)
        .await
        .expect("consume");
    assert_eq!(
        first,
        ConsumeOutcome::Consumed {
            subject: "case_1".into()
        }
    );
    let second = store
        .consume_single_use_token("liveness_nonce", "t1", at)
        .await
        .expect("consume");
    assert_eq!(second, ConsumeOutcome::AlreadyUsed);
    let other_purpose = store
        .consume_single_use_token("sms_code", "t1", at)
        .await
        .expect("consume");
    assert_eq!(
        other_purpose,
        ConsumeOutcome::Unknown,
        "purposes are separate"
    );
}

pub async fn reports_expired_and_unknown_tokens_and_deletes_expired_ones(db: TestDb) {
    let store = db.store();
    let at = now();
    store
        .insert_single_use_token(&token("t2", at + Duration::minutes(3)))
        .await
        .expect("insert");
    let late = at + Duration::minutes(3);
    let outcome = store
        .consume_single_use_token("liveness_nonce", "t2", late)
        .await
        .expect("consume");
    assert_eq!(
        outcome,
        ConsumeOutcome::Expired,
        "a token is dead at its expiry instant"
    );
    let unknown = store
        .consume_single_use_token("liveness_nonce", "nope", at)
        .await
        .expect("consume");
    assert_eq!(unknown, ConsumeOutcome::Unknown);
    store
        .insert_single_use_token(&token("t3", at + Duration::minutes(10)))
        .await
        .expect("insert");
    let swept = store
        .delete_expired_single_use_tokens(at + Duration::minutes(5))
        .await
        .expect("delete");
    assert_eq!(swept, 1, "only the expired token goes");
    let gone = store
        .consume_single_use_token("liveness_nonce", "t2", late)
        .await
        .expect("consume");
    assert_eq!(gone, ConsumeOutcome::Unknown);
    let kept = store
        .consume_single_use_token("liveness_nonce", "t3", late)
        .await
        .expect("consume");
    assert!(matches!(kept, ConsumeOutcome::Consumed { .. }), "{kept:?}");
}

pub async fn thirty_two_racers_consume_one_token_once(db: TestDb) {
    let store = db.store();
    let at = now();
    store
        .insert_single_use_token(&token("race", at + Duration::minutes(3)))
        .await
        .expect("insert");
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let racers: Vec<_> = (0..32)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .consume_single_use_token("liveness_nonce", "race", at)
                    .await
            })
        })
        .collect();
    let mut consumed = 0;
    let mut already_used = 0;
    for racer in racers {
        match racer.await.expect("task").expect("no database error") {
            ConsumeOutcome::Consumed { .. } => consumed += 1,
            ConsumeOutcome::AlreadyUsed => already_used += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((consumed, already_used), (1, 31));
}

pub async fn refuses_a_duplicate_token(db: TestDb) {
    let store = db.store();
    let t = token("dup", now() + Duration::minutes(3));
    store.insert_single_use_token(&t).await.expect("first");
    let err = store
        .insert_single_use_token(&t)
        .await
        .expect_err("duplicate");
    assert!(
        matches!(
            err,
            StoreError::Conflict(heyan::error_code::ErrorCode::TokenExists)
        ),
        "{err:?}"
    );
}

pub async fn counts_concurrent_increments_without_loss(db: TestDb) {
    let store: Arc<dyn Store> = db.store();
    let at = now();
    let window = at;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..8 {
                    let n = store
                        .increment_counter("sms_phone:x", window, at + Duration::hours(1), at)
                        .await
                        .expect("increment");
                    seen.push(n);
                }
                seen
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=128).collect::<Vec<i64>>(),
        "every increment returns a distinct count"
    );
    assert_eq!(
        store.get_counter("sms_phone:x", window).await.expect("get"),
        128
    );
}

pub async fn keeps_counter_windows_apart(db: TestDb) {
    let store = db.store();
    let at = now();
    let later = at + Duration::hours(1);
    let exp = at + Duration::hours(2);
    assert_eq!(
        store
            .increment_counter("k", at, exp, at)
            .await
            .expect("inc"),
        1
    );
    assert_eq!(
        store
            .increment_counter("k", at, exp, at)
            .await
            .expect("inc"),
        2
    );
    assert_eq!(
        store
            .increment_counter("k", later, exp, at)
            .await
            .expect("inc"),
        1
    );
    assert_eq!(
        store
            .increment_counter("other", at, exp, at)
            .await
            .expect("inc"),
        1
    );
    assert_eq!(store.get_counter("k", at).await.expect("get"), 2);
    assert_eq!(store.get_counter("absent", at).await.expect("get"), 0);
}

pub async fn deletes_only_expired_counters(db: TestDb) {
    let store = db.store();
    let at = now();
    store
        .increment_counter("old", at, at + Duration::minutes(1), at)
        .await
        .expect("inc");
    store
        .increment_counter("new", at, at + Duration::hours(1), at)
        .await
        .expect("inc");
    let removed = store
        .delete_expired_counters(at + Duration::minutes(2))
        .await
        .expect("delete");
    assert_eq!(removed, 1);
    assert_eq!(store.get_counter("old", at).await.expect("get"), 0);
    assert_eq!(store.get_counter("new", at).await.expect("get"), 1);
}

fn new_case(client: &ClientId, filing_id: &str) -> NewCase {
    NewCase {
        id: CaseId::new(),
        client_id: client.clone(),
        filing_id: filing_id.into(),
        region: Region::parse("shanghai").expect("region"),
        subject_type: SubjectType::Individual,
        subject_name_sealed: "v1.sealed".into(),
        subject_name_masked: "张*".into(),
        eligible: true,
        ineligible_reason: None,
        status: CaseStatus::AwaitingApp,
        download_token: hex::encode(rand::random::<[u8; 16]>()),
        created_at: now(),
        websites: vec![],
    }
}

async fn client_in(store: &Arc<dyn Store>) -> ClientId {
    let (client, key) = new_client(
        &format!("c{}", hex::encode(rand::random::<[u8; 4]>())),
        now(),
    );
    store.insert_client(&client, &key).await.expect("client");
    client.id
}

pub async fn idempotency_records_replay_refuse_and_expire(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let at = now();
    let start = |hash: &str, at: DateTime<Utc>| IdempotencyStart {
        client_id: client.clone(),
        key: "k1".into(),
        request_hash: hash.into(),
        now: at,
        expires_at: at + Duration::hours(24),
    };
    assert_eq!(
        store
            .begin_idempotent(&start("h1", at))
            .await
            .expect("begin"),
        IdempotencyState::Fresh
    );
    assert_eq!(
        store
            .begin_idempotent(&start("h1", at))
            .await
            .expect("begin"),
        IdempotencyState::InProgress
    );
    store
        .finish_idempotent(&client, "k1", 201, "{\"a\":1}", at)
        .await
        .expect("finish");
    assert_eq!(
        store
            .begin_idempotent(&start("h1", at))
            .await
            .expect("begin"),
        IdempotencyState::Replay {
            status: 201,
            body: "{\"a\":1}".into()
        }
    );
    assert_eq!(
        store
            .begin_idempotent(&start("h2", at))
            .await
            .expect("begin"),
        IdempotencyState::Mismatch
    );
    let later = at + Duration::hours(25);
    assert_eq!(
        store
            .delete_expired_idempotency(later)
            .await
            .expect("sweep"),
        1
    );
    assert_eq!(
        store
            .begin_idempotent(&start("h2", later))
            .await
            .expect("begin"),
        IdempotencyState::Fresh
    );
}

pub async fn concurrent_audit_appends_form_one_unbroken_chain(db: TestDb) {
    let store = db.store();
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let entry = NewAuditEntry {
                    at: now(),
                    actor_type: "system".into(),
                    actor_id: format!("w{i}"),
                    action: "test.appended".into(),
                    case_id: None,
                    ip: None,
                    details: "{}".into(),
                };
                store.append_audit(&entry).await.expect("append")
            })
        })
        .collect();
    for w in writers {
        w.await.expect("task");
    }
    let chain = store.list_audit(None, 0, 100).await.expect("list");
    assert_eq!(
        chain.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=16).collect::<Vec<i64>>()
    );
    let mut prev = GENESIS_HASH.to_owned();
    for e in &chain {
        assert_eq!(
            e.prev_hash, prev,
            "entry {} links to its predecessor",
            e.seq
        );
        assert_eq!(
            e.hash,
            audit_hash(e.seq, &e.prev_hash, &e.entry),
            "entry {} hash",
            e.seq
        );
        prev = e.hash.clone();
    }
}

/// Appends `n` entries (seq 1..=n on a fresh database).
async fn append_audit_entries(store: &dyn Store, n: usize) {
    for i in 0..n {
        let entry = NewAuditEntry {
            at: now(),
            actor_type: "system".into(),
            actor_id: "heyan".into(),
            action: "test.appended".into(),
            case_id: Some(format!("case_{i}")),
            ip: Some("192.0.2.1".into()),
            details: format!("{{\"n\":{i}}}"),
        };
        store.append_audit(&entry).await.expect("append");
    }
}

/// The first broken link `verify` reports, with the count of intact entries before it.
async fn audit_break(store: &dyn Store) -> (u64, BrokenLink) {
    let report = audit::verify(store).await.expect("verify");
    let broken = report
        .first_broken
        .unwrap_or_else(|| panic!("the tampering went unnoticed: {} entries", report.entries));
    (report.entries, broken)
}

pub async fn audit_verify_accepts_an_intact_chain_across_pages(db: TestDb) {
    let store = db.store();
    let empty = audit::verify(store.as_ref()).await.expect("verify");
    assert_eq!((empty.entries, empty.first_broken), (0, None), "empty log");
    append_audit_entries(store.as_ref(), 5).await;
    let report = audit::verify(store.as_ref()).await.expect("verify");
    assert_eq!((report.entries, &report.first_broken), (5, &None));
    for page_size in [1, 2, 4, 5, 6] {
        let paged = audit::verify_in_pages(store.as_ref(), page_size)
            .await
            .expect("verify");
        assert_eq!(paged, report, "pages of {page_size}");
    }
}

pub async fn audit_verify_names_an_edited_entry(db: TestDb) {
    let store = db.store();
    append_audit_entries(store.as_ref(), 5).await;
    let edited = db
        .execute_sql(r#"update audit_log set details = '{"x":1}' where seq = 3"#)
        .await;
    assert_eq!(edited, 1);
    let (entries, broken) = audit_break(store.as_ref()).await;
    assert_eq!(
        (entries, broken.seq, broken.problem),
        (2, 3, "hash_mismatch"),
        "{broken:?}"
    );
    let paged = audit::verify_in_pages(store.as_ref(), 2)
        .await
        .expect("verify");
    assert_eq!(
        paged.first_broken,
        Some(broken),
        "the page boundary changes nothing"
    );
}

pub async fn audit_verify_reports_a_deleted_entry_as_a_gap(db: TestDb) {
    let store = db.store();
    append_audit_entries(store.as_ref(), 5).await;
    assert_eq!(
        db.execute_sql("delete from audit_log where seq = 3").await,
        1
    );
    let (entries, broken) = audit_break(store.as_ref()).await;
    assert_eq!(
        (entries, broken.seq, broken.problem),
        (2, 3, "gap"),
        "{broken:?}"
    );
    assert_eq!(
        db.execute_sql("delete from audit_log where seq = 1").await,
        1
    );
    let (entries, broken) = audit_break(store.as_ref()).await;
    assert_eq!(
        (entries, broken.seq, broken.problem),
        (0, 1, "gap"),
        "{broken:?}"
    );
}

pub async fn audit_verify_reports_an_edited_prev_hash(db: TestDb) {
    let store = db.store();
    append_audit_entries(store.as_ref(), 5).await;
    let forged = format!(
        "update audit_log set prev_hash = '{}' where seq = 4",
        "1".repeat(64)
    );
    assert_eq!(db.execute_sql(&forged).await, 1);
    let (entries, broken) = audit_break(store.as_ref()).await;
    assert_eq!(
        (entries, broken.seq, broken.problem),
        (3, 4, "prev_hash_mismatch"),
        "{broken:?}"
    );
}

/// Documents the limit of a bare chain: removing the newest entry leaves a valid chain.
pub async fn audit_verify_cannot_see_a_deleted_last_entry(db: TestDb) {
    let store = db.store();
    append_audit_entries(store.as_ref(), 5).await;
    assert_eq!(
        db.execute_sql("delete from audit_log where seq = 5").await,
        1
    );
    let report = audit::verify(store.as_ref()).await.expect("verify");
    assert_eq!((report.entries, report.first_broken), (4, None));
}

pub async fn a_leased_event_is_not_handed_out_twice(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let at = now();
    let event = NewEvent {
        id: EventId::new(),
        client_id: client,
        event_type: "case.completed".into(),
        payload: "{}".into(),
        created_at: at,
    };
    store.insert_event(&event).await.expect("insert");
    let first = store
        .claim_due_events(at, at + Duration::seconds(20), 10)
        .await
        .expect("claim");
    assert_eq!(first.len(), 1);
    assert!(
        store
            .claim_due_events(at, at + Duration::seconds(20), 10)
            .await
            .expect("claim")
            .is_empty(),
        "leased"
    );
    let failure = EventFailure {
        id: event.id.clone(),
        attempts: 1,
        next_attempt_at: at + Duration::seconds(30),
        give_up: false,
        error: "503".into(),
        now: at,
    };
    store.mark_event_failed(&failure).await.expect("fail");
    assert!(
        store
            .claim_due_events(at + Duration::seconds(29), at + Duration::seconds(60), 10)
            .await
            .expect("claim")
            .is_empty(),
        "not due yet"
    );
    let retry = store
        .claim_due_events(at + Duration::seconds(30), at + Duration::seconds(60), 10)
        .await
        .expect("claim");
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].attempts, 1);
    store
        .mark_event_delivered(&event.id, at + Duration::seconds(31))
        .await
        .expect("delivered");
    assert!(store
        .claim_due_events(at + Duration::days(1), at + Duration::days(2), 10)
        .await
        .expect("claim")
        .is_empty());
}

pub async fn a_retaken_photo_replaces_the_old_and_names_its_blob(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let case = new_case(&client, "F-PH");
    store.insert_case(&case).await.expect("case");
    let photo = |blob: &str| PhotoRecord {
        case_id: case.id.clone(),
        kind: PhotoKind::Front,
        blob_id: crate::blob(blob),
        width: 2048,
        height: 1536,
        size_bytes: 123_456,
        sha256: "ab".repeat(32),
        original_sha256: "cd".repeat(32),
        created_at: now(),
    };
    assert_eq!(
        store.upsert_photo(&photo("blob1")).await.expect("first"),
        None
    );
    assert_eq!(
        store.upsert_photo(&photo("blob2")).await.expect("retake"),
        Some(crate::blob("blob1"))
    );
    let photos = store.list_photos(&case.id).await.expect("list");
    assert_eq!(photos.len(), 1);
    assert_eq!(photos[0].blob_id, crate::blob("blob2"));
    assert_eq!((photos[0].width, photos[0].size_bytes), (2048, 123_456));
}

pub async fn a_code_is_redeemed_once_by_racers_and_voided_by_a_newer_code(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let case = new_case(&client, "F-CODE");
    store.insert_case(&case).await.expect("case");
    let at = now();
    let code = |hash: &str| NewVerificationCode {
        case_id: case.id.clone(),
        code_hash: hash.into(),
        expires_at: at + Duration::hours(72),
        created_at: at,
    };
    let issued = change(&case.id, "code.issued", at, None);
    let redeemed = change(&case.id, "code.redeemed", at, None);
    store
        .issue_code(&code("old"), &issued)
        .await
        .expect("issue");
    store
        .issue_code(&code("new"), &issued)
        .await
        .expect("reissue");
    assert_eq!(
        store
            .redeem_code(&case.id, "old", at, &redeemed)
            .await
            .expect("redeem"),
        RedeemOutcome::Wrong,
        "voided"
    );
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let (store, id, redeemed) = (store.clone(), case.id.clone(), redeemed.clone());
            tokio::spawn(async move {
                store
                    .redeem_code(&id, "new", at, &redeemed)
                    .await
                    .expect("redeem")
            })
        })
        .collect();
    let mut won = 0;
    for r in racers {
        match r.await.expect("task") {
            RedeemOutcome::Redeemed => won += 1,
            RedeemOutcome::AlreadyUsed => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(
        store.get_case(&case.id).await.expect("case").status,
        CaseStatus::Redeemed
    );
    assert!(
        matches!(
            store.issue_code(&code("x"), &issued).await,
            Err(StoreError::Transition(TransitionError::AppStepsClosed))
        ),
        "a redeemed case takes no new code"
    );
}

/// Makes the database refuse audit entries with this action, as a full disk or a broken
/// connection would refuse the append in the middle of a status change.
async fn refuse_audit_action(db: &TestDb, action: &str) {
    if db.is_postgres() {
        db.execute_sql(&format!(
            "create function refuse_audit() returns trigger language plpgsql as $$
             begin
               if new.action = '{action}' then raise exception 'audit refused'; end if;
               return new;
             end $$"
        ))
        .await;
        db.execute_sql(
            "create trigger refuse_audit before insert on audit_log
             for each row execute function refuse_audit()",
        )
        .await;
    } else {
        db.execute_sql(&format!(
            "create trigger refuse_audit before insert on audit_log
             when new.action = '{action}'
             begin select raise(abort, 'audit refused'); end"
        ))
        .await;
    }
}

fn queued_event(client: &ClientId, at: DateTime<Utc>) -> NewEvent {
    NewEvent {
        id: EventId::new(),
        client_id: client.clone(),
        event_type: "case.completed".into(),
        payload: "{}".into(),
        created_at: at,
    }
}

pub async fn a_status_change_writes_its_audit_entry_and_event_in_one_go(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let case = new_case(&client, "F-ATOMIC");
    store.insert_case(&case).await.expect("case");
    let at = now();
    let code = NewVerificationCode {
        case_id: case.id.clone(),
        code_hash: "h".into(),
        expires_at: at + Duration::hours(72),
        created_at: at,
    };
    let event = queued_event(&client, at);
    store
        .issue_code(
            &code,
            &change(&case.id, "code.issued", at, Some(event.clone())),
        )
        .await
        .expect("issue");
    let audit = store
        .list_audit(Some(&case.id), 0, 10)
        .await
        .expect("audit");
    assert_eq!(
        audit
            .iter()
            .map(|e| e.entry.action.as_str())
            .collect::<Vec<_>>(),
        ["code.issued"]
    );
    assert_eq!(
        store.get_event(&event.id).await.expect("event").id,
        event.id
    );

    // The audit append fails in the middle of a cancellation: nothing of it stays.
    refuse_audit_action(&db, "case.cancelled").await;
    let cancel_event = queued_event(&client, at);
    let refused = store
        .cancel_case(
            &case.id,
            at,
            &change(&case.id, "case.cancelled", at, Some(cancel_event.clone())),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Backend(_))),
        "{refused:?}"
    );
    let kept = store.get_case(&case.id).await.expect("case");
    assert_eq!(
        kept.status,
        CaseStatus::CodeIssued,
        "the change rolled back"
    );
    assert_eq!(
        store
            .list_audit(Some(&case.id), 0, 10)
            .await
            .expect("audit")
            .len(),
        1
    );
    assert!(matches!(
        store.get_event(&cancel_event.id).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn a_refused_transition_writes_no_audit_entry_and_no_event(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let case = new_case(&client, "F-REFUSED");
    store.insert_case(&case).await.expect("case");
    let at = now();
    let event = queued_event(&client, at);
    let refused = store
        .submit_case(
            &case.id,
            at + Duration::hours(8),
            at,
            &change(&case.id, "case.submitted", at, Some(event.clone())),
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Transition(TransitionError::NotRedeemed))
        ),
        "{refused:?}"
    );
    let refused = store
        .redeem_code(
            &case.id,
            "nothing issued",
            at,
            &change(&case.id, "code.redeemed", at, Some(event.clone())),
        )
        .await;
    assert!(
        matches!(refused, Ok(RedeemOutcome::Wrong)),
        "no code was issued: {refused:?}"
    );
    assert_eq!(
        store.get_case(&case.id).await.expect("case").status,
        CaseStatus::AwaitingApp
    );
    assert!(store
        .list_audit(Some(&case.id), 0, 10)
        .await
        .expect("audit")
        .is_empty());
    assert!(matches!(
        store.get_event(&event.id).await,
        Err(StoreError::NotFound)
    ));
    let missing = CaseId::new();
    assert!(matches!(
        store
            .cancel_case(&missing, at, &change(&missing, "case.cancelled", at, None))
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn events_are_claimed_per_client(db: TestDb) {
    let store = db.store();
    let (a, b) = (client_in(&store).await, client_in(&store).await);
    let at = now();
    for client in [&a, &a, &b] {
        store
            .insert_event(&queued_event(client, at))
            .await
            .expect("queue");
    }
    let mut due = store
        .clients_with_due_events(at, 10)
        .await
        .expect("clients");
    due.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    let mut both = vec![a.clone(), b.clone()];
    both.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    assert_eq!(due, both);
    let leased = store
        .claim_due_events_of(&a, at, at + Duration::seconds(50), 10)
        .await
        .expect("claim");
    assert_eq!(leased.len(), 2);
    assert!(leased.iter().all(|e| e.client_id == a));
    assert_eq!(
        store
            .clients_with_due_events(at, 10)
            .await
            .expect("clients"),
        vec![b],
        "a client whose events are all leased is not due"
    );
    assert!(store
        .claim_due_events_of(&a, at, at + Duration::seconds(50), 10)
        .await
        .expect("claim")
        .is_empty());
}

pub async fn redemption_tries_are_counted_before_they_are_checked(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let case = new_case(&client, "F-TRIES");
    store.insert_case(&case).await.expect("case");
    let at = now();
    let run_start = at - Duration::hours(1);
    let lock_until = at + Duration::hours(1);
    // Sixteen tries at once: exactly ten are let through, numbered 1 to 10.
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let (store, id) = (store.clone(), case.id.clone());
            tokio::spawn(async move {
                store
                    .begin_redeem_attempt(&id, 10, run_start, at)
                    .await
                    .expect("begin")
            })
        })
        .collect();
    let mut numbers = Vec::new();
    for r in racers {
        numbers.extend(r.await.expect("task"));
    }
    numbers.sort();
    assert_eq!(numbers, (1..=10).collect::<Vec<_>>());
    // Wrong codes below the tenth change nothing; the tenth locks and starts a new run.
    assert!(!store
        .settle_redeem_attempt(&case.id, 9, true, 10, lock_until, at)
        .await
        .expect("settle"));
    assert!(store
        .settle_redeem_attempt(&case.id, 10, true, 10, lock_until, at)
        .await
        .expect("settle"));
    let locked = store.get_case(&case.id).await.expect("case");
    assert_eq!(locked.redeem_locked_until, Some(lock_until));
    assert_eq!(
        store
            .begin_redeem_attempt(&case.id, 10, run_start, at)
            .await
            .expect("begin"),
        None
    );
    assert_eq!(
        store
            .begin_redeem_attempt(&case.id, 10, lock_until - Duration::hours(1), lock_until)
            .await
            .expect("begin"),
        Some(1),
        "after the lock a new run starts"
    );
    // A run ends an hour after its first try, and a real code ends it too.
    let later = lock_until + Duration::minutes(30);
    assert_eq!(
        store
            .begin_redeem_attempt(&case.id, 10, later - Duration::hours(1), later)
            .await
            .expect("begin"),
        Some(2)
    );
    let past_the_run = lock_until + Duration::minutes(61);
    assert_eq!(
        store
            .begin_redeem_attempt(
                &case.id,
                10,
                past_the_run - Duration::hours(1),
                past_the_run
            )
            .await
            .expect("begin"),
        Some(1)
    );
    assert!(!store
        .settle_redeem_attempt(&case.id, 1, false, 10, lock_until, past_the_run)
        .await
        .expect("settle"));
    assert_eq!(
        store
            .begin_redeem_attempt(
                &case.id,
                10,
                past_the_run - Duration::hours(1),
                past_the_run
            )
            .await
            .expect("begin"),
        Some(1)
    );
}

pub async fn a_stale_unanswered_idempotency_claim_can_be_released(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let at = now();
    let start = |key: &str| IdempotencyStart {
        client_id: client.clone(),
        key: key.into(),
        request_hash: "h".into(),
        now: at,
        expires_at: at + Duration::hours(24),
    };
    for key in ["dead", "answered"] {
        assert_eq!(
            store.begin_idempotent(&start(key)).await.expect("begin"),
            IdempotencyState::Fresh
        );
    }
    store
        .finish_idempotent(&client, "answered", 201, "{}", at)
        .await
        .expect("finish");
    let before_the_claim = at - Duration::seconds(1);
    assert!(!store
        .release_stale_idempotent(&client, "dead", before_the_claim)
        .await
        .expect("release"));
    let later = at + Duration::minutes(2);
    assert!(store
        .release_stale_idempotent(&client, "dead", later)
        .await
        .expect("release"));
    assert!(
        !store
            .release_stale_idempotent(&client, "answered", later)
            .await
            .expect("release"),
        "an answered key is kept for its replays"
    );
    assert_eq!(
        store.begin_idempotent(&start("dead")).await.expect("begin"),
        IdempotencyState::Fresh,
        "the released key runs again"
    );
}

pub async fn a_queued_sms_is_leased_once_retried_and_given_up(db: TestDb) {
    let store = db.store();
    let at = now();
    let sms = |n: &str| NewSms {
        mobile_sealed: format!("sealed-mobile-{n}"),
        code_sealed: format!("sealed-code-{n}"),
        ttl_minutes: 5,
        expires_at: at + Duration::minutes(5),
        created_at: at,
    };
    store.queue_sms(&sms("a")).await.expect("queue");
    store.queue_sms(&sms("b")).await.expect("queue");
    let lease = at + Duration::seconds(30);
    let first = store.claim_due_sms(at, lease, 10).await.expect("claim");
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].code_sealed, "sealed-code-a");
    assert_eq!(first[0].ttl_minutes, 5);
    assert!(
        store
            .claim_due_sms(at, lease, 10)
            .await
            .expect("claim")
            .is_empty(),
        "leased codes are not handed out twice"
    );
    store.mark_sms_sent(first[0].id, at).await.expect("sent");
    let retry_at = at + Duration::seconds(5);
    store
        .mark_sms_failed(first[1].id, retry_at, false, "provider down", at)
        .await
        .expect("failed");
    assert!(store
        .claim_due_sms(retry_at - Duration::seconds(1), lease, 10)
        .await
        .expect("claim")
        .is_empty());
    let again = store
        .claim_due_sms(retry_at, lease, 10)
        .await
        .expect("claim");
    assert_eq!(again.len(), 1, "only the failed one comes back");
    assert_eq!((again[0].id, again[0].attempts), (first[1].id, 1));
    store
        .mark_sms_failed(again[0].id, retry_at, true, "refused", retry_at)
        .await
        .expect("gave up");
    assert!(store
        .claim_due_sms(at + Duration::hours(1), at + Duration::hours(2), 10)
        .await
        .expect("claim")
        .is_empty());
    assert!(matches!(
        store.mark_sms_sent(999_999, at).await,
        Err(StoreError::NotFound)
    ));
    // Sent and given-up codes go once they are old; nothing else does.
    store.queue_sms(&sms("c")).await.expect("queue");
    assert_eq!(
        store.delete_finished_sms(retry_at).await.expect("delete"),
        1,
        "only the one sent before then"
    );
    assert_eq!(
        store
            .delete_finished_sms(at + Duration::hours(1))
            .await
            .expect("delete"),
        1
    );
    assert_eq!(
        store
            .claim_due_sms(at, lease, 10)
            .await
            .expect("claim")
            .len(),
        1,
        "the queued one stays"
    );
}

/// Periodic jobs run on one instance at a time on PostgreSQL (an advisory lock held for
/// the pass); SQLite serves one instance, so its claim always succeeds.
pub async fn a_tick_is_claimed_by_one_instance_at_a_time(db: TestDb) {
    let store = db.store();
    let first = store.claim_tick("housekeeping").await.expect("claim");
    let first = first.expect("the first claim succeeds");
    let second = store.claim_tick("housekeeping").await.expect("claim");
    if !db.is_postgres() {
        assert!(second.is_some(), "SQLite serves one instance");
        return;
    }
    assert!(second.is_none(), "held by the first");
    let other = store.claim_tick("another job").await.expect("claim");
    assert!(other.is_some(), "each job has its own lock");
    first.release().await.expect("release");
    let again = store.claim_tick("housekeeping").await.expect("claim");
    assert!(again.is_some(), "free once released");
}
