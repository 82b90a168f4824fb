//! The review desk's conformance cases (`ReviewStore`): logins and locks, sessions, the
//! queue, leases, decisions and the purge; each takes a fresh database.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use heyan::blob::BlobId;
use heyan::clock::to_millis;
use heyan::domain::case::{CaseStatus, PhotoKind, Region, SubjectType, TransitionError};
use heyan::domain::ids::{CaseId, ClientId, ClientKeyId, EventId, ReviewerId};
use heyan::domain::role::Role;
use heyan::store::{
    ClaimOutcome, DecideOutcome, LoginFailure, NewCase, NewClient, NewClientKey, NewDecision,
    NewEvent, NewReviewer, NewReviewerSession, NewVerificationCode, PhotoRecord, QueueCounts,
    QueueQuery, RedeemOutcome, Store, StoreError,
};

use crate::change;
use crate::support::TestDb;

/// The lock threshold the console uses.
const MAX_FAILURES: i32 = 5;

fn now() -> DateTime<Utc> {
    to_millis(Utc::now())
}

async fn client_in(store: &Arc<dyn Store>) -> ClientId {
    let id = ClientId::new();
    let key = NewClientKey {
        id: ClientKeyId::new(),
        client_id: id.clone(),
        key_hash: hex::encode(rand::random::<[u8; 32]>()),
        key_prefix: "hyk_abcdefgh".into(),
        created_at: now(),
    };
    let client = NewClient {
        id: id.clone(),
        name: format!("c{}", hex::encode(rand::random::<[u8; 4]>())),
        webhook_url: None,
        webhook_secret_sealed: None,
        created_at: now(),
    };
    store.insert_client(&client, &key).await.expect("client");
    id
}

/// Inserts a reviewer whose display name is `审核员<username>`.
async fn reviewer_in(store: &Arc<dyn Store>, username: &str) -> ReviewerId {
    let reviewer = NewReviewer {
        id: ReviewerId::new(),
        username: username.into(),
        display_name: format!("审核员{username}"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        roles: vec![Role::Reviewer],
        created_at: now(),
    };
    store.insert_reviewer(&reviewer).await.expect("reviewer");
    reviewer.id
}

/// Inserts an open case registered (and last active) at `at`.
async fn case_in(store: &Arc<dyn Store>, client: &ClientId, at: DateTime<Utc>) -> CaseId {
    let case = NewCase {
        id: CaseId::new(),
        client_id: client.clone(),
        filing_id: format!("F-{}", hex::encode(rand::random::<[u8; 6]>())),
        region: Region::parse("shanghai").expect("region"),
        subject_type: SubjectType::Individual,
        subject_name_sealed: "v1.sealed".into(),
        subject_name_masked: "张*".into(),
        eligible: true,
        ineligible_reason: None,
        status: CaseStatus::AwaitingApp,
        download_token: hex::encode(rand::random::<[u8; 16]>()),
        created_at: at,
        websites: vec![],
    };
    store.insert_case(&case).await.expect("case");
    case.id
}

/// A case with every photo step done, its code redeemed and submitted at `at`, due at `due`.
async fn case_in_review(
    store: &Arc<dyn Store>,
    client: &ClientId,
    at: DateTime<Utc>,
    due: DateTime<Utc>,
) -> CaseId {
    let id = case_in(store, client, at).await;
    for kind in PhotoKind::ALL {
        let photo = PhotoRecord {
            case_id: id.clone(),
            kind,
            blob_id: crate::blob(&format!("blob-{}", kind.as_str())),
            width: 2048,
            height: 1536,
            size_bytes: 1000,
            sha256: "ab".repeat(32),
            original_sha256: "cd".repeat(32),
            created_at: at,
        };
        store.upsert_photo(&photo).await.expect("photo");
    }
    let code = NewVerificationCode {
        case_id: id.clone(),
        code_hash: "code".into(),
        expires_at: at + Duration::hours(72),
        created_at: at,
    };
    store
        .issue_code(&code, &change(&id, "code.issued", at, None))
        .await
        .expect("issue");
    assert_eq!(
        store
            .redeem_code(&id, "code", at, &change(&id, "code.redeemed", at, None))
            .await
            .expect("redeem"),
        RedeemOutcome::Redeemed
    );
    store
        .submit_case(&id, due, at, &change(&id, "case.submitted", at, None))
        .await
        .expect("submit");
    id
}

fn decision(
    case: &CaseId,
    reviewer: &ReviewerId,
    approved: bool,
    at: DateTime<Utc>,
) -> NewDecision {
    NewDecision {
        case_id: case.clone(),
        reviewer_id: reviewer.clone(),
        approved,
        reasons: if approved {
            "[]".into()
        } else {
            r#"[{"code":"photo_blurred","step":"front"}]"#.into()
        },
        note: Some("证件照片模糊".into()),
        reopen: if approved {
            vec![]
        } else {
            vec![PhotoKind::Front]
        },
        now: at,
    }
}

/// Decides through the store with the audit entry (and event) a decision writes.
async fn decide(
    store: &Arc<dyn Store>,
    d: &NewDecision,
    event: Option<NewEvent>,
) -> Result<DecideOutcome, StoreError> {
    let action = if d.approved {
        "case.approved"
    } else {
        "case.rejected"
    };
    store
        .decide_case(d, &change(&d.case_id, action, d.now, event))
        .await
}

fn decided_event(client: &ClientId, at: DateTime<Utc>) -> NewEvent {
    NewEvent {
        id: EventId::new(),
        client_id: client.clone(),
        event_type: "case.decided".into(),
        payload: r#"{"decision":"rejected"}"#.into(),
        created_at: at,
    }
}

fn session(token_hash: &str, reviewer: &ReviewerId, at: DateTime<Utc>) -> NewReviewerSession {
    NewReviewerSession {
        token_hash: token_hash.into(),
        reviewer_id: reviewer.clone(),
        csrf_token: format!("csrf-{token_hash}"),
        expires_at: at + Duration::hours(12),
        created_at: at,
    }
}

fn queue(at: DateTime<Utc>) -> QueueQuery {
    QueueQuery {
        now: at,
        overdue_only: false,
        leased_to: None,
        offset: 0,
        limit: 50,
    }
}

pub async fn login_failures_lock_the_account_at_the_fifth_and_count_again(db: TestDb) {
    let store = db.store();
    let id = reviewer_in(&store, "li").await;
    let at = now();
    let lock_until = at + Duration::minutes(15);
    for expected in 1..MAX_FAILURES {
        let attempt = store
            .begin_login_attempt(&id, MAX_FAILURES, at)
            .await
            .expect("begin");
        assert_eq!(attempt, Some(expected));
        let failure = store
            .record_login_failure(&id, expected, MAX_FAILURES, lock_until, at)
            .await
            .expect("failure");
        assert_eq!(
            (failure.failures, failure.locked_until),
            (expected, None),
            "failure {expected} does not lock"
        );
    }
    let fifth = store
        .begin_login_attempt(&id, MAX_FAILURES, at)
        .await
        .expect("begin");
    assert_eq!(fifth, Some(MAX_FAILURES));
    assert_eq!(
        store
            .begin_login_attempt(&id, MAX_FAILURES, at)
            .await
            .expect("begin"),
        None,
        "no sixth check while the fifth is still running"
    );
    let fifth = store
        .record_login_failure(&id, MAX_FAILURES, MAX_FAILURES, lock_until, at)
        .await
        .expect("fifth");
    assert_eq!(
        fifth.locked_until,
        Some(lock_until),
        "the fifth failure locks"
    );
    let stored = store.get_reviewer(&id).await.expect("get");
    assert_eq!(
        (stored.failed_logins, stored.locked_until),
        (0, Some(lock_until)),
        "and the count starts again"
    );
    let by_name = store
        .find_reviewer_by_username("li")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(
        (by_name.failed_logins, by_name.locked_until),
        (0, Some(lock_until))
    );
    assert_eq!(
        store
            .begin_login_attempt(&id, MAX_FAILURES, lock_until - Duration::seconds(1))
            .await
            .expect("begin"),
        None,
        "locked"
    );
    assert_eq!(
        store
            .begin_login_attempt(&id, MAX_FAILURES, lock_until)
            .await
            .expect("begin"),
        Some(1),
        "the lock ends"
    );
    assert!(matches!(
        store
            .begin_login_attempt(&ReviewerId::new(), MAX_FAILURES, at)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .record_login_failure(
                &ReviewerId::new(),
                MAX_FAILURES,
                MAX_FAILURES,
                lock_until,
                at
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_reviewer(&ReviewerId::new()).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn concurrent_login_failures_are_all_counted(db: TestDb) {
    let store = db.store();
    let id = reviewer_in(&store, "li").await;
    let at = now();
    // 22 checks at once: exactly the first five may run, each with its own number.
    let racers: Vec<_> = (0..22)
        .map(|_| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move {
                store
                    .begin_login_attempt(&id, MAX_FAILURES, at)
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
    assert_eq!(numbers, (1..=MAX_FAILURES).collect::<Vec<_>>());
    assert_eq!(
        store.get_reviewer(&id).await.expect("get").failed_logins,
        MAX_FAILURES
    );
}

/// One password check that found a wrong password, as the login flow records it.
async fn fail_login(store: &Arc<dyn Store>, id: &ReviewerId, at: DateTime<Utc>) -> LoginFailure {
    let attempt = store
        .begin_login_attempt(id, MAX_FAILURES, at)
        .await
        .expect("begin")
        .expect("not locked");
    store
        .record_login_failure(id, attempt, MAX_FAILURES, at + Duration::minutes(15), at)
        .await
        .expect("failure")
}

pub async fn a_successful_login_resets_the_failure_count(db: TestDb) {
    let store = db.store();
    let id = reviewer_in(&store, "li").await;
    let at = now();
    for _ in 0..3 {
        fail_login(&store, &id, at).await;
    }
    assert_eq!(store.get_reviewer(&id).await.expect("get").failed_logins, 3);
    store.record_login_success(&id, at).await.expect("success");
    assert_eq!(store.get_reviewer(&id).await.expect("get").failed_logins, 0);
    assert_eq!(
        fail_login(&store, &id, at).await.failures,
        1,
        "counting starts again after a success"
    );
}

pub async fn a_password_reset_lifts_the_lock_and_ends_every_session(db: TestDb) {
    let store = db.store();
    let li = reviewer_in(&store, "li").await;
    let wang = reviewer_in(&store, "wang").await;
    let at = now();
    for _ in 0..MAX_FAILURES {
        fail_login(&store, &li, at).await;
    }
    for (hash, who) in [("s1", &li), ("s2", &li), ("s3", &wang)] {
        store
            .start_reviewer_session(&session(hash, who, at))
            .await
            .expect("session");
    }
    let reset_at = at + Duration::minutes(1);
    store
        .set_reviewer_password("li", "$argon2id$new", reset_at)
        .await
        .expect("reset");

    let stored = store.get_reviewer(&li).await.expect("get");
    assert_eq!(stored.password_hash, "$argon2id$new");
    assert_eq!((stored.failed_logins, stored.locked_until), (0, None));
    for hash in ["s1", "s2"] {
        let s = store
            .find_reviewer_session(hash)
            .await
            .expect("find")
            .expect("exists");
        assert_eq!(s.revoked_at, Some(reset_at), "{hash} ended");
    }
    let other = store
        .find_reviewer_session("s3")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(other.revoked_at, None, "another reviewer's session stays");
    assert!(matches!(
        store.set_reviewer_password("nobody", "x", reset_at).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn disabling_a_reviewer_ends_its_sessions(db: TestDb) {
    let store = db.store();
    let li = reviewer_in(&store, "li").await;
    let wang = reviewer_in(&store, "wang").await;
    let at = now();
    store
        .start_reviewer_session(&session("s1", &li, at))
        .await
        .expect("session");
    store
        .start_reviewer_session(&session("s2", &wang, at))
        .await
        .expect("session");
    let off = at + Duration::minutes(5);
    store.disable_reviewer("li", off).await.expect("disable");

    assert_eq!(
        store.get_reviewer(&li).await.expect("get").disabled_at,
        Some(off)
    );
    assert_eq!(
        store
            .find_reviewer_session("s1")
            .await
            .expect("find")
            .expect("exists")
            .revoked_at,
        Some(off)
    );
    assert_eq!(
        store
            .find_reviewer_session("s2")
            .await
            .expect("find")
            .expect("exists")
            .revoked_at,
        None
    );
    assert_eq!(
        store.get_reviewer(&wang).await.expect("get").disabled_at,
        None
    );
    assert!(matches!(
        store.disable_reviewer("nobody", off).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn reviewer_sessions_are_found_touched_and_revoked(db: TestDb) {
    let store = db.store();
    let li = reviewer_in(&store, "li").await;
    let at = now();
    let new = session("hash1", &li, at);
    store.start_reviewer_session(&new).await.expect("start");
    assert!(matches!(
        store.start_reviewer_session(&new).await,
        Err(StoreError::Conflict(
            heyan::error_code::ErrorCode::SessionExists
        ))
    ));

    let found = store
        .find_reviewer_session("hash1")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(found.reviewer_id, li);
    assert_eq!(found.csrf_token, "csrf-hash1");
    assert_eq!(found.last_seen_at, at);
    assert_eq!(found.expires_at, at + Duration::hours(12));
    assert_eq!(found.revoked_at, None);

    let later = at + Duration::minutes(7);
    store
        .touch_reviewer_session("hash1", later)
        .await
        .expect("touch");
    let touched = store
        .find_reviewer_session("hash1")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(touched.last_seen_at, later);
    assert_eq!(
        touched.expires_at,
        at + Duration::hours(12),
        "absolute expiry stays"
    );

    let out = at + Duration::minutes(8);
    store
        .revoke_reviewer_session("hash1", out)
        .await
        .expect("revoke");
    store
        .revoke_reviewer_session("hash1", out + Duration::minutes(1))
        .await
        .expect("revoke again");
    assert_eq!(
        store
            .find_reviewer_session("hash1")
            .await
            .expect("find")
            .expect("exists")
            .revoked_at,
        Some(out),
        "the first logout time stays"
    );
    assert!(store
        .find_reviewer_session("unknown")
        .await
        .expect("find")
        .is_none());
}

pub async fn the_queue_is_ordered_by_due_time_and_filters_pages_and_counts(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let li = reviewer_in(&store, "li").await;
    let at = now();
    let submitted = at - Duration::hours(30);
    // Inserted out of order; two overdue, three not.
    let due_in = [5, -2, 1, -6, 3];
    let mut ids = BTreeMap::new();
    for hours in due_in {
        let id = case_in_review(&store, &client, submitted, at + Duration::hours(hours)).await;
        ids.insert(hours, id);
    }
    // An open case is not in the queue.
    case_in(&store, &client, at).await;

    let page = store.review_queue(&queue(at)).await.expect("queue");
    let order: Vec<_> = page.items.iter().map(|i| i.case.id.clone()).collect();
    let expected: Vec<_> = ids.values().cloned().collect();
    assert_eq!(order, expected, "most urgent first");
    assert_eq!(page.total, 5);
    assert!(page
        .items
        .iter()
        .all(|i| i.case.status == CaseStatus::InReview));

    let overdue = store
        .review_queue(&QueueQuery {
            overdue_only: true,
            ..queue(at)
        })
        .await
        .expect("overdue");
    let order: Vec<_> = overdue.items.iter().map(|i| i.case.id.clone()).collect();
    assert_eq!(order, [ids[&-6].clone(), ids[&-2].clone()]);
    assert_eq!(overdue.total, 2);

    let second_page = store
        .review_queue(&QueueQuery {
            offset: 2,
            limit: 2,
            ..queue(at)
        })
        .await
        .expect("page");
    let order: Vec<_> = second_page
        .items
        .iter()
        .map(|i| i.case.id.clone())
        .collect();
    assert_eq!(order, [ids[&1].clone(), ids[&3].clone()]);
    assert_eq!(
        second_page.total, 5,
        "total counts every match, not the page"
    );
    let past_the_end = store
        .review_queue(&QueueQuery {
            offset: 10,
            ..queue(at)
        })
        .await
        .expect("page");
    assert!(past_the_end.items.is_empty());
    assert_eq!(past_the_end.total, 5);

    for hours in [3, -6] {
        let claimed = store
            .claim_case(&ids[&hours], &li, at + Duration::minutes(15), at)
            .await
            .expect("claim");
        assert!(matches!(claimed, ClaimOutcome::Claimed { .. }));
    }
    let mine = store
        .review_queue(&QueueQuery {
            leased_to: Some(li.clone()),
            ..queue(at)
        })
        .await
        .expect("mine");
    let order: Vec<_> = mine.items.iter().map(|i| i.case.id.clone()).collect();
    assert_eq!(order, [ids[&-6].clone(), ids[&3].clone()]);
    assert_eq!(mine.total, 2);
    let mine_overdue = store
        .review_queue(&QueueQuery {
            leased_to: Some(li.clone()),
            overdue_only: true,
            ..queue(at)
        })
        .await
        .expect("mine overdue");
    assert_eq!(mine_overdue.total, 1);
    assert_eq!(mine_overdue.items[0].case.id, ids[&-6]);
    let after_expiry = store
        .review_queue(&QueueQuery {
            leased_to: Some(li.clone()),
            ..queue(at + Duration::minutes(15))
        })
        .await
        .expect("mine later");
    assert_eq!(after_expiry.total, 0, "expired leases are nobody's");
    assert!(after_expiry.items.is_empty());
}

pub async fn the_queue_shows_live_leases_and_hides_expired_ones(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let li = reviewer_in(&store, "li").await;
    let at = now();
    let case = case_in_review(&store, &client, at, at + Duration::hours(8)).await;
    let free = store.review_queue(&queue(at)).await.expect("queue");
    assert_eq!(free.items[0].lease, None);

    let until = at + Duration::minutes(15);
    store
        .claim_case(&case, &li, until, at)
        .await
        .expect("claim");
    let leased = store.review_queue(&queue(at)).await.expect("queue");
    let lease = leased.items[0].lease.clone().expect("live lease");
    assert_eq!(lease.reviewer_id, li);
    assert_eq!(lease.display_name, "审核员li");
    assert_eq!(lease.until, until);
    assert_eq!(
        store.case_lease(&case, at).await.expect("lease"),
        Some(lease)
    );

    let expired = store.review_queue(&queue(until)).await.expect("queue");
    assert_eq!(expired.items.len(), 1, "the case stays in the queue");
    assert_eq!(
        expired.items[0].lease, None,
        "an expired lease is not shown"
    );
    assert_eq!(store.case_lease(&case, until).await.expect("lease"), None);
    assert_eq!(
        store.case_lease(&CaseId::new(), at).await.expect("lease"),
        None
    );
}

pub async fn sixteen_concurrent_claimers_leave_exactly_one_holder(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let at = now();
    let case = case_in_review(&store, &client, at, at + Duration::hours(8)).await;
    let mut reviewers = Vec::new();
    for i in 0..16 {
        reviewers.push(reviewer_in(&store, &format!("r{i}")).await);
    }
    let until = at + Duration::minutes(15);
    let racers: Vec<_> = reviewers
        .iter()
        .map(|reviewer| {
            let (store, case, reviewer) = (store.clone(), case.clone(), reviewer.clone());
            tokio::spawn(async move {
                let outcome = store
                    .claim_case(&case, &reviewer, until, at)
                    .await
                    .expect("claim");
                (reviewer, outcome)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut told = Vec::new();
    for r in racers {
        match r.await.expect("task") {
            (reviewer, ClaimOutcome::Claimed { until: u }) => {
                assert_eq!(u, until);
                winners.push(reviewer);
            }
            (_, ClaimOutcome::LeasedToOther(lease)) => told.push(lease),
            (_, other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one claimer wins");
    let winner = &winners[0];
    let index = reviewers.iter().position(|r| r == winner).expect("known");
    assert_eq!(told.len(), 15);
    for lease in &told {
        assert_eq!(&lease.reviewer_id, winner);
        assert_eq!(lease.display_name, format!("审核员r{index}"));
        assert_eq!(lease.until, until);
    }
    let lease = store
        .case_lease(&case, at)
        .await
        .expect("lease")
        .expect("held");
    assert_eq!(&lease.reviewer_id, winner);
}

pub async fn a_holder_renews_and_an_expired_lease_can_be_taken_over(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let li = reviewer_in(&store, "li").await;
    let wang = reviewer_in(&store, "wang").await;
    let at = now();
    let case = case_in_review(&store, &client, at, at + Duration::hours(8)).await;

    let first = at + Duration::minutes(15);
    assert_eq!(
        store
            .claim_case(&case, &li, first, at)
            .await
            .expect("claim"),
        ClaimOutcome::Claimed { until: first }
    );
    let renewed = at + Duration::minutes(20);
    assert_eq!(
        store
            .claim_case(&case, &li, renewed, at + Duration::minutes(5))
            .await
            .expect("renew"),
        ClaimOutcome::Claimed { until: renewed },
        "the holder renews its own lease"
    );
    match store
        .claim_case(
            &case,
            &wang,
            at + Duration::minutes(30),
            at + Duration::minutes(19),
        )
        .await
        .expect("claim")
    {
        ClaimOutcome::LeasedToOther(lease) => {
            assert_eq!(lease.reviewer_id, li);
            assert_eq!(lease.display_name, "审核员li");
            assert_eq!(lease.until, renewed);
        }
        other => panic!("a live lease keeps others out: {other:?}"),
    }
    let taken = renewed + Duration::minutes(15);
    assert_eq!(
        store
            .claim_case(&case, &wang, taken, renewed)
            .await
            .expect("take over"),
        ClaimOutcome::Claimed { until: taken },
        "a lease ends at its end time"
    );
    assert!(matches!(
        store
            .claim_case(&case, &li, taken, renewed + Duration::minutes(1))
            .await
            .expect("claim"),
        ClaimOutcome::LeasedToOther(lease) if lease.reviewer_id == wang
    ));

    let open = case_in(&store, &client, at).await;
    assert_eq!(
        store
            .claim_case(&open, &li, first, at)
            .await
            .expect("claim"),
        ClaimOutcome::NotInReview
    );
    assert!(matches!(
        store.claim_case(&CaseId::new(), &li, first, at).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn only_the_lease_holder_decides_and_only_once(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let li = reviewer_in(&store, "li").await;
    let wang = reviewer_in(&store, "wang").await;
    let at = now();
    let case = case_in_review(&store, &client, at, at + Duration::hours(8)).await;

    assert_eq!(
        decide(&store, &decision(&case, &li, true, at), None)
            .await
            .expect("decide"),
        DecideOutcome::NotLeased,
        "nobody holds a lease yet"
    );
    let until = at + Duration::minutes(15);
    store
        .claim_case(&case, &li, until, at)
        .await
        .expect("claim");
    assert_eq!(
        decide(&store, &decision(&case, &wang, true, at), None)
            .await
            .expect("decide"),
        DecideOutcome::NotLeased,
        "another reviewer holds the lease"
    );
    assert_eq!(
        decide(&store, &decision(&case, &li, true, until), None)
            .await
            .expect("decide"),
        DecideOutcome::NotLeased,
        "the lease has ended"
    );
    assert_eq!(
        store.get_case(&case).await.expect("case").status,
        CaseStatus::InReview,
        "refused decisions change nothing"
    );
    assert!(store.list_decisions(&case).await.expect("list").is_empty());

    store
        .claim_case(&case, &li, until, at)
        .await
        .expect("claim");
    let decided_at = at + Duration::minutes(3);
    assert_eq!(
        decide(&store, &decision(&case, &li, true, decided_at), None)
            .await
            .expect("decide"),
        DecideOutcome::Decided
    );
    for who in [&li, &wang] {
        assert_eq!(
            decide(&store, &decision(&case, who, false, decided_at), None)
                .await
                .expect("decide"),
            DecideOutcome::NotInReview,
            "a decided case takes no second decision"
        );
    }
    let stored = store.get_case(&case).await.expect("case");
    assert_eq!(stored.status, CaseStatus::Approved);
    assert_eq!(stored.decided_at, Some(decided_at));
    assert_eq!(store.list_decisions(&case).await.expect("list").len(), 1);
    assert_eq!(
        store.case_lease(&case, decided_at).await.expect("lease"),
        None,
        "the decision ends the lease"
    );
    assert_eq!(
        store
            .claim_case(&case, &wang, until, decided_at)
            .await
            .expect("claim"),
        ClaimOutcome::NotInReview
    );
    assert!(matches!(
        decide(&store, &decision(&CaseId::new(), &li, true, at), None).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn concurrent_decisions_record_exactly_one(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let li = reviewer_in(&store, "li").await;
    let wang = reviewer_in(&store, "wang").await;
    let at = now();
    let case = case_in_review(&store, &client, at, at + Duration::hours(8)).await;
    store
        .claim_case(&case, &li, at + Duration::minutes(15), at)
        .await
        .expect("claim");
    // The holder races itself (a double click on two instances) and a reviewer without
    // the lease races both.
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let who = if i % 2 == 0 { li.clone() } else { wang.clone() };
            let (store, case, client) = (store.clone(), case.clone(), client.clone());
            tokio::spawn(async move {
                let d = decision(&case, &who, i % 4 == 0, at + Duration::minutes(1));
                let outcome = decide(&store, &d, Some(decided_event(&client, at)))
                    .await
                    .expect("decide");
                (who, outcome)
            })
        })
        .collect();
    let mut decided = 0;
    for r in racers {
        match r.await.expect("task") {
            (who, DecideOutcome::Decided) => {
                assert_eq!(who, li, "only the holder can win");
                decided += 1;
            }
            (_, DecideOutcome::NotInReview | DecideOutcome::NotLeased) => {}
        }
    }
    assert_eq!(decided, 1, "exactly one decision");
    assert_eq!(store.list_decisions(&case).await.expect("list").len(), 1);
    let events = store
        .claim_due_events(at + Duration::minutes(2), at + Duration::minutes(3), 100)
        .await
        .expect("events");
    assert_eq!(events.len(), 1, "losers queue no event");
}

pub async fn a_rejection_clears_exactly_the_reopened_steps_and_stores_its_record(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let li = reviewer_in(&store, "li").await;
    let submitted = now() - Duration::hours(2);
    let case = case_in_review(&store, &client, submitted, submitted + Duration::hours(8)).await;
    let at = now();
    store
        .claim_case(&case, &li, at + Duration::minutes(15), at)
        .await
        .expect("claim");
    let rejection = NewDecision {
        reopen: vec![PhotoKind::Front, PhotoKind::Liveness],
        reasons: r#"[{"code":"photo_blurred","step":"front"},{"code":"face_mismatch","step":"liveness"}]"#
            .into(),
        ..decision(&case, &li, false, at + Duration::minutes(1))
    };
    let event = decided_event(&client, at + Duration::minutes(1));
    assert_eq!(
        decide(&store, &rejection, Some(event.clone()))
            .await
            .expect("decide"),
        DecideOutcome::Decided
    );

    let stored = store.get_case(&case).await.expect("case");
    assert_eq!(stored.status, CaseStatus::Rejected);
    assert_eq!(stored.decided_at, Some(rejection.now));
    assert_eq!(stored.last_activity_at, rejection.now);
    assert_eq!(stored.progress.front_at, None, "front reopened");
    assert_eq!(stored.progress.liveness_at, None, "liveness reopened");
    assert_eq!(
        stored.progress.handheld_at,
        Some(submitted),
        "handheld kept"
    );
    assert_eq!(stored.progress.back_at, Some(submitted), "back kept");
    assert_eq!(stored.progress.submitted_at, Some(submitted));
    assert_eq!(
        db.execute_sql(&format!(
            "update cases set updated_at = updated_at
             where id = '{}' and decided_by = '{}' and lease_reviewer_id is null and lease_until is null",
            case.as_str(),
            li.as_str()
        ))
        .await,
        1,
        "decided_by is set and the lease is gone"
    );

    let decisions = store.list_decisions(&case).await.expect("list");
    assert_eq!(decisions.len(), 1);
    let d = &decisions[0];
    assert_eq!(d.reviewer_id, li);
    assert_eq!(d.decision, "rejected");
    assert_eq!(d.reasons, rejection.reasons);
    assert_eq!(d.note.as_deref(), Some("证件照片模糊"));
    assert_eq!(d.submitted_at, submitted, "the round's submission time");
    assert_eq!(d.decided_at, rejection.now);

    let events = store
        .claim_due_events(at + Duration::minutes(2), at + Duration::minutes(3), 100)
        .await
        .expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, event.id);
    assert_eq!(events[0].client_id, client);
    assert_eq!(events[0].event_type, "case.decided");
    assert_eq!(events[0].payload, event.payload);
}

pub async fn an_approval_keeps_every_step(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let li = reviewer_in(&store, "li").await;
    let submitted = now() - Duration::hours(1);
    let case = case_in_review(&store, &client, submitted, submitted + Duration::hours(8)).await;
    let at = now();
    store
        .claim_case(&case, &li, at + Duration::minutes(15), at)
        .await
        .expect("claim");
    let approval = NewDecision {
        reopen: vec![PhotoKind::Front],
        note: None,
        ..decision(&case, &li, true, at)
    };
    assert_eq!(
        decide(&store, &approval, None).await.expect("decide"),
        DecideOutcome::Decided
    );
    let stored = store.get_case(&case).await.expect("case");
    assert_eq!(stored.status, CaseStatus::Approved);
    for (step, time) in [
        ("liveness", stored.progress.liveness_at),
        ("handheld", stored.progress.handheld_at),
        ("front", stored.progress.front_at),
        ("back", stored.progress.back_at),
    ] {
        assert_eq!(time, Some(submitted), "{step} kept");
    }
    let decisions = store.list_decisions(&case).await.expect("list");
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].decision, "approved");
    assert_eq!(decisions[0].reasons, "[]");
    assert_eq!(decisions[0].note, None);
    assert!(
        store
            .claim_due_events(at + Duration::days(1), at + Duration::days(2), 100)
            .await
            .expect("events")
            .is_empty(),
        "no event was asked for"
    );
}

pub async fn review_counts_count_cases_in_review_and_overdue(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let at = now();
    assert_eq!(
        store.review_counts(at).await.expect("counts"),
        QueueCounts {
            in_review: 0,
            overdue: 0
        }
    );
    let submitted = at - Duration::hours(30);
    for hours in [-3, -1, 2, 4, 6] {
        case_in_review(&store, &client, submitted, at + Duration::hours(hours)).await;
    }
    case_in(&store, &client, at - Duration::days(3)).await;
    assert_eq!(
        store.review_counts(at).await.expect("counts"),
        QueueCounts {
            in_review: 5,
            overdue: 2
        }
    );
    assert_eq!(
        store
            .review_counts(at + Duration::hours(3))
            .await
            .expect("counts")
            .overdue,
        3
    );
}

/// Decides a case at `at` (claiming it just before); `approved` picks the decision.
async fn decided_case(
    store: &Arc<dyn Store>,
    client: &ClientId,
    reviewer: &ReviewerId,
    approved: bool,
    at: DateTime<Utc>,
) -> CaseId {
    let submitted = at - Duration::hours(5);
    let case = case_in_review(store, client, submitted, submitted + Duration::hours(8)).await;
    store
        .claim_case(
            &case,
            reviewer,
            at + Duration::minutes(15),
            at - Duration::minutes(1),
        )
        .await
        .expect("claim");
    assert_eq!(
        decide(store, &decision(&case, reviewer, approved, at), None)
            .await
            .expect("decide"),
        DecideOutcome::Decided
    );
    case
}

pub async fn purgeable_cases_follow_the_retention_rules(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let li = reviewer_in(&store, "li").await;
    let at = now();
    let ago = |days: i64| at - Duration::days(days);

    let mut expected = Vec::new();
    let mut kept = Vec::new();
    expected.push((
        "approved 31 days ago",
        decided_case(&store, &client, &li, true, ago(31)).await,
    ));
    expected.push((
        "rejected 31 days ago, never resumed",
        decided_case(&store, &client, &li, false, ago(31)).await,
    ));
    kept.push((
        "approved 29 days ago",
        decided_case(&store, &client, &li, true, ago(29)).await,
    ));
    kept.push((
        "rejected 29 days ago",
        decided_case(&store, &client, &li, false, ago(29)).await,
    ));
    expected.push((
        "awaiting the App, idle 8 days",
        case_in(&store, &client, ago(8)).await,
    ));
    kept.push((
        "awaiting the App, idle 6 days",
        case_in(&store, &client, ago(6)).await,
    ));
    kept.push((
        "in review for 100 days",
        case_in_review(&store, &client, ago(100), ago(99)).await,
    ));

    let cancelled = case_in(&store, &client, ago(40)).await;
    store
        .cancel_case(
            &cancelled,
            ago(40),
            &change(&cancelled, "case.cancelled", ago(40), None),
        )
        .await
        .expect("cancel");
    kept.push(("cancelled 40 days ago", cancelled));

    let purged = decided_case(&store, &client, &li, true, ago(60)).await;
    store.mark_purged(&purged, ago(30)).await.expect("purge");
    kept.push(("already purged", purged));

    let ineligible = NewCase {
        id: CaseId::new(),
        client_id: client.clone(),
        filing_id: "F-INELIGIBLE".into(),
        region: Region::parse("beijing").expect("region"),
        subject_type: SubjectType::Individual,
        subject_name_sealed: "v1.sealed".into(),
        subject_name_masked: "王*".into(),
        eligible: false,
        ineligible_reason: Some("region".into()),
        status: CaseStatus::Ineligible,
        download_token: hex::encode(rand::random::<[u8; 16]>()),
        created_at: ago(90),
        websites: vec![],
    };
    store.insert_case(&ineligible).await.expect("case");
    kept.push(("ineligible, never had photos", ineligible.id));

    // Rejected 31 days ago, then the principal came back: the decision no longer counts,
    // only the new round's activity (a fresh code two days ago).
    let resumed = decided_case(&store, &client, &li, false, ago(31)).await;
    let code = NewVerificationCode {
        case_id: resumed.clone(),
        code_hash: "again".into(),
        expires_at: ago(2) + Duration::hours(72),
        created_at: ago(2),
    };
    store
        .issue_code(&code, &change(&resumed, "code.issued", ago(2), None))
        .await
        .expect("reissue");
    kept.push(("rejected 31 days ago, resumed 2 days ago", resumed));

    let found = store
        .purgeable_cases(ago(30), ago(7), 100)
        .await
        .expect("purgeable");
    for (what, id) in &expected {
        assert!(found.contains(id), "{what}: purgeable");
    }
    for (what, id) in &kept {
        assert!(!found.contains(id), "{what}: not purgeable");
    }
    assert_eq!(found.len(), expected.len());
    let mut sorted = found.clone();
    sorted.sort();
    assert_eq!(found, sorted, "ordered by id");

    let limited = store
        .purgeable_cases(ago(30), ago(7), 2)
        .await
        .expect("purgeable");
    assert_eq!(limited, found[..2], "the limit takes the first ids");
}

pub async fn mark_purged_records_the_time_and_leaves_the_purge_list(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let at = now();
    let idle = case_in(&store, &client, at - Duration::days(8)).await;
    assert_eq!(
        store
            .purgeable_cases(at - Duration::days(30), at - Duration::days(7), 10)
            .await
            .expect("purgeable"),
        std::slice::from_ref(&idle)
    );
    store.mark_purged(&idle, at).await.expect("mark");
    let stored = store.get_case(&idle).await.expect("case");
    assert_eq!(stored.purged_at, Some(at));
    assert_eq!(stored.updated_at, at);
    assert_eq!(stored.status, CaseStatus::AwaitingApp, "only the photos go");
    assert!(store
        .purgeable_cases(at - Duration::days(30), at - Duration::days(7), 10)
        .await
        .expect("purgeable")
        .is_empty());
    assert!(matches!(
        store.mark_purged(&CaseId::new(), at).await,
        Err(StoreError::NotFound)
    ));
}

fn photo_of(case: &CaseId, kind: PhotoKind, blob: &str, at: DateTime<Utc>) -> PhotoRecord {
    PhotoRecord {
        case_id: case.clone(),
        kind,
        blob_id: crate::blob(blob),
        width: 2048,
        height: 1536,
        size_bytes: 1000,
        sha256: "ab".repeat(32),
        original_sha256: "cd".repeat(32),
        created_at: at,
    }
}

fn refused_because(result: Result<Option<BlobId>, StoreError>, why: TransitionError) {
    match result {
        Err(StoreError::Transition(got)) => assert_eq!(got, why),
        other => panic!("expected {why:?}, got {other:?}"),
    }
}

pub async fn a_capture_is_stored_only_while_the_app_may_take_it(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let li = reviewer_in(&store, "li").await;
    let at = now();

    // After a rejection only the step it reopened (the front) takes a photo, again and again.
    let rejected = decided_case(&store, &client, &li, false, at - Duration::minutes(5)).await;
    refused_because(
        store
            .upsert_photo(&photo_of(&rejected, PhotoKind::Handheld, "late", at))
            .await,
        TransitionError::StepNotReopened,
    );
    for (blob, replaced) in [("front-2", "blob-front"), ("front-3", "front-2")] {
        assert_eq!(
            store
                .upsert_photo(&photo_of(&rejected, PhotoKind::Front, blob, at))
                .await
                .expect("reopened step"),
            Some(crate::blob(replaced))
        );
    }
    let kept: Vec<_> = store
        .list_photos(&rejected)
        .await
        .expect("photos")
        .into_iter()
        .map(|p| (p.kind, p.blob_id))
        .collect();
    assert!(kept.contains(&(PhotoKind::Handheld, crate::blob("blob-handheld"))));
    assert!(kept.contains(&(PhotoKind::Front, crate::blob("front-3"))));

    // A case in review, a cancelled one and a purged one take nothing; their rows stay.
    let in_review = case_in_review(&store, &client, at, at + Duration::hours(8)).await;
    refused_because(
        store
            .upsert_photo(&photo_of(&in_review, PhotoKind::Front, "late", at))
            .await,
        TransitionError::AppStepsClosed,
    );
    let cancelled = case_in(&store, &client, at).await;
    store
        .cancel_case(
            &cancelled,
            at,
            &change(&cancelled, "case.cancelled", at, None),
        )
        .await
        .expect("cancel");
    refused_because(
        store
            .upsert_photo(&photo_of(&cancelled, PhotoKind::Liveness, "late", at))
            .await,
        TransitionError::Cancelled,
    );
    let purged = case_in(&store, &client, at).await;
    store.mark_purged(&purged, at).await.expect("purge");
    refused_because(
        store
            .upsert_photo(&photo_of(&purged, PhotoKind::Liveness, "late", at))
            .await,
        TransitionError::Purged,
    );
    assert!(matches!(
        store.record_liveness(&purged, "{}", at).await,
        Err(StoreError::Transition(TransitionError::Purged))
    ));
    for case in [&in_review, &cancelled, &purged] {
        let blobs: Vec<_> = store
            .list_photos(case)
            .await
            .expect("photos")
            .into_iter()
            .map(|p| p.blob_id)
            .collect();
        assert!(!blobs.contains(&crate::blob("late")), "{blobs:?}");
    }
    let stored = store.get_case(&in_review).await.expect("case");
    assert_eq!(stored.status, CaseStatus::InReview);
}

pub async fn a_purged_case_takes_no_new_code_and_no_sign_in(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let li = reviewer_in(&store, "li").await;
    let at = now();
    let rejected = decided_case(&store, &client, &li, false, at - Duration::days(31)).await;
    store.mark_purged(&rejected, at).await.expect("purge");
    let code = NewVerificationCode {
        case_id: rejected.clone(),
        code_hash: "after-purge".into(),
        expires_at: at + Duration::hours(72),
        created_at: at,
    };
    assert!(matches!(
        store
            .issue_code(&code, &change(&rejected, "code.issued", at, None))
            .await,
        Err(StoreError::Transition(TransitionError::Purged))
    ));
    assert_eq!(
        store.get_case(&rejected).await.expect("case").status,
        CaseStatus::Rejected
    );
    // Only a cancellation still applies.
    store
        .cancel_case(
            &rejected,
            at,
            &change(&rejected, "case.cancelled", at, None),
        )
        .await
        .expect("cancel a purged case");
}

pub async fn concurrent_retakes_of_one_photo_all_land_and_leave_one_row(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let case = case_in(&store, &client, now()).await;
    let racers: Vec<_> = (0..12)
        .map(|i| {
            let (store, case) = (store.clone(), case.clone());
            tokio::spawn(async move {
                let photo = photo_of(&case, PhotoKind::Liveness, &format!("b{i}"), now());
                store.upsert_photo(&photo).await.expect("no racer fails")
            })
        })
        .collect();
    let mut replaced = Vec::new();
    for r in racers {
        replaced.extend(r.await.expect("task"));
    }
    let photos = store.list_photos(&case).await.expect("photos");
    assert_eq!(photos.len(), 1);
    // Every upload but the last one standing was replaced exactly once.
    replaced.push(photos[0].blob_id.clone());
    replaced.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut all: Vec<_> = (0..12).map(|i| crate::blob(&format!("b{i}"))).collect();
    all.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(replaced, all);
}

pub async fn redemption_racing_cancellation_never_fails(db: TestDb) {
    let store = db.store();
    let client = client_in(&store).await;
    let at = now();
    let mut racers = Vec::new();
    for _ in 0..8 {
        let case = case_in(&store, &client, at).await;
        let code = NewVerificationCode {
            case_id: case.clone(),
            code_hash: "c".into(),
            expires_at: at + Duration::hours(72),
            created_at: at,
        };
        store
            .issue_code(&code, &change(&case, "code.issued", at, None))
            .await
            .expect("issue");
        let (s, c) = (store.clone(), case.clone());
        racers.push(tokio::spawn(async move {
            s.redeem_code(&c, "c", at, &change(&c, "code.redeemed", at, None))
                .await
                .map(|_| ())
        }));
        let (s, c) = (store.clone(), case.clone());
        racers.push(tokio::spawn(async move {
            s.cancel_case(&c, at, &change(&c, "case.cancelled", at, None))
                .await
        }));
    }
    for r in racers {
        match r.await.expect("task") {
            Ok(()) | Err(StoreError::Transition(TransitionError::Cancelled)) => {}
            Err(e) => panic!("a race between redemption and cancellation failed: {e:?}"),
        }
    }
}
