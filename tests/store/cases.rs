//! The bodies of the conformance cases; each takes a fresh database.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use heyan::clock::to_millis;
use heyan::domain::ids::{ClientId, ClientKeyId, ReviewerId};
use heyan::domain::role::Role;
use heyan::store::{
    ConsumeOutcome, NewClient, NewClientKey, NewReviewer, NewSingleUseToken, Store, StoreError,
};

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
        matches!(err, StoreError::Conflict("client_name_taken")),
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
        matches!(err, StoreError::Conflict("reviewer_username_taken")),
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

pub async fn reports_expired_and_unknown_tokens(db: TestDb) {
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
        matches!(err, StoreError::Conflict("token_exists")),
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
