//! What operators ask of the service: readiness (database, blob store, calendar data) and
//! the review queue gauges read at scrape time. No personal data passes through here.

use std::time::Duration;

use super::Services;

/// How long a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Warn this many days before the calendar data ends.
const CALENDAR_WARNING_DAYS: i64 = 60;

/// The answer of one readiness probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The dependency answered.
    Ok,
    /// It failed or timed out (the cause is logged).
    Unavailable,
}

impl Probe {
    /// `ok` or `unavailable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Unavailable => "unavailable",
        }
    }
}

/// Whether the service can do its work now.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// The database.
    pub database: Probe,
    /// The blob store.
    pub blob_store: Probe,
    /// Days of business-day calendar data left; below 0 submissions fail.
    pub calendar_days_left: i64,
    /// Things operators should act on soon.
    pub warnings: Vec<String>,
}

impl Readiness {
    /// Every dependency answers and the calendar still covers today.
    pub fn is_ready(&self) -> bool {
        self.database == Probe::Ok && self.blob_store == Probe::Ok && self.calendar_days_left >= 0
    }
}

/// Probes the database and the blob store (each bounded by a timeout) and the calendar
/// data; sets the `heyan_calendar_days_left` gauge.
pub async fn readiness(svc: &Services) -> Readiness {
    let (db, blobs) = tokio::join!(
        tokio::time::timeout(PROBE_TIMEOUT, svc.store.ping()),
        tokio::time::timeout(PROBE_TIMEOUT, svc.blobs.check()),
    );
    let database = probe_result(
        "database",
        db.map_err(|_| "timed out".to_owned())
            .and_then(|r| r.map_err(|e| format!("{e:#}"))),
    );
    let blob_store = probe_result(
        "blob store",
        blobs
            .map_err(|_| "timed out".to_owned())
            .and_then(|r| r.map_err(|e| e.to_string())),
    );
    let (calendar_days_left, warnings) = calendar_outlook(svc);
    Readiness {
        database,
        blob_store,
        calendar_days_left,
        warnings,
    }
}

/// Days of calendar data left (also a gauge), with a warning inside the last 60 days.
fn calendar_outlook(svc: &Services) -> (i64, Vec<String>) {
    let today = svc
        .clock
        .now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let left = svc.calendar.days_left(today);
    #[allow(clippy::cast_precision_loss)] // days fit an f64 exactly
    metrics::gauge!("heyan_calendar_days_left").set(left as f64);
    let mut warnings = Vec::new();
    if left < CALENDAR_WARNING_DAYS {
        let until = svc.calendar.covered_until();
        warnings.push(format!(
            "business-day calendar data ends {until} ({left} days): add the next year (assets/calendar/README.md, calendar.extra_files)"
        ));
        tracing::warn!(days_left = left, covered_until = %until, "business-day calendar data ends soon");
    }
    (left, warnings)
}

/// Logs a failed probe (operators need the cause) and reduces it to a label.
fn probe_result(what: &str, result: Result<(), String>) -> Probe {
    match result {
        Ok(()) => Probe::Ok,
        Err(cause) => {
            tracing::warn!(dependency = what, error = %cause, "readiness probe failed");
            Probe::Unavailable
        }
    }
}

/// Sets the review queue's size and overdue gauges, read at scrape time so they are
/// never stale; a failure is logged and leaves the gauges as they were.
pub async fn record_review_gauges(svc: &Services) {
    match svc.store.review_counts(svc.clock.now()).await {
        #[allow(clippy::cast_precision_loss)] // queue sizes fit an f64 exactly
        Ok(counts) => {
            metrics::gauge!("heyan_review_queue_size").set(counts.in_review as f64);
            metrics::gauge!("heyan_review_overdue").set(counts.overdue as f64);
        }
        Err(e) => tracing::warn!(error = %e, "could not count the review queue"),
    }
}
