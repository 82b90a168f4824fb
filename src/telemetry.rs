//! Tracing set-up: human-readable lines in development, JSON lines in production, and a
//! quiet variant for tests. Personal data never reaches a log in the clear: log the masked
//! forms from `domain::mask` (the PII types' `Debug`/`Display` already mask themselves).

use std::io::IsTerminal;

use tokio::task::JoinHandle;
use tracing::Span;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{LogFormat, Settings};

/// Installs the global subscriber for the service and the CLI. Safe to call once.
pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match settings.log_format() {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        _ => builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
    // A second init (tests, demo inside serve) keeps the first subscriber.
    drop(result);
}

/// For tests: silent unless `TEST_LOG` is set, then writes through the test harness.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("debug"));
        drop(fmt().with_env_filter(filter).with_test_writer().try_init());
    }
}

/// Runs CPU-bound work on the blocking pool inside the caller's span, so its logs keep the
/// request's context.
pub fn spawn_blocking_in_span<F, R>(work: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
}
