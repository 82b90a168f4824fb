//! A local webhook receiver standing in for the filing system: it checks every
//! signature itself (HMAC-SHA256 over "t.body"), can fail the first N deliveries, and
//! records the events it accepted.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Notify;

/// What the receiver saw.
#[derive(Default)]
pub struct Inbox {
    /// Every try, accepted or not.
    pub attempts: AtomicUsize,
    /// Tries still to refuse with 503.
    pub fail_next: AtomicUsize,
    /// Accepted events (parsed bodies), in order.
    pub accepted: Mutex<Vec<serde_json::Value>>,
    /// Tries with a bad or missing signature.
    pub bad_signatures: AtomicUsize,
    /// The secret to check signatures with.
    pub secret: Mutex<String>,
    /// While set, tries are left unanswered (a hanging receiver) until `release`.
    pub stall: AtomicBool,
    released: Notify,
    changed: Notify,
}

/// A running receiver.
pub struct Receiver {
    /// Its URL.
    pub url: String,
    /// What it saw.
    pub inbox: Arc<Inbox>,
}

/// Starts a receiver that refuses the first `fail_first` tries.
pub async fn start(fail_first: usize) -> Receiver {
    let inbox = Arc::new(Inbox::default());
    inbox.fail_next.store(fail_first, Ordering::SeqCst);
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, inbox }
}

impl Inbox {
    /// Answers the tries left hanging by `stall`, and every later one at once.
    pub fn release(&self) {
        self.stall.store(false, Ordering::SeqCst);
        self.released.notify_waiters();
    }

    async fn wait_while_stalled(&self) {
        loop {
            let released = self.released.notified();
            if !self.stall.load(Ordering::SeqCst) {
                return;
            }
            released.await;
        }
    }

    /// Waits (bounded) until `done` holds.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&Inbox) -> bool) {
        let waited = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let notified = self.changed.notified();
                if done(self) {
                    return;
                }
                notified.await;
            }
        })
        .await;
        assert!(waited.is_ok(), "timed out waiting for {what}");
    }

    /// Accepted events of a type.
    pub fn accepted_of(&self, event_type: &str) -> Vec<serde_json::Value> {
        self.accepted
            .lock()
            .expect("lock")
            .iter()
            .filter(|e| e["type"] == event_type)
            .cloned()
            .collect()
    }
}

fn signature_ok(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(header) = headers
        .get("x-heyan-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::decode(v1).is_ok_and(|sig| mac.verify_slice(&sig).is_ok())
}

async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    inbox.attempts.fetch_add(1, Ordering::SeqCst);
    inbox.changed.notify_waiters();
    inbox.wait_while_stalled().await;
    let status = accept(&inbox, &headers, &body);
    inbox.changed.notify_waiters();
    status
}

fn accept(inbox: &Inbox, headers: &HeaderMap, body: &[u8]) -> StatusCode {
    let secret = inbox.secret.lock().expect("lock").clone();
    if !signature_ok(&secret, headers, body) {
        inbox.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    if inbox.fail_next.load(Ordering::SeqCst) > 0 {
        inbox.fail_next.fetch_sub(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let event: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let mut accepted = inbox.accepted.lock().expect("lock");
    // A real receiver drops duplicates by event id; this one records them to catch double delivery.
    accepted.push(event);
    StatusCode::OK
}
