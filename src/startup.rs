//! Building and running the service: open the store (migrating), load or generate the
//! master secret, open the blob store, bind the public and the admin listener, serve both
//! until told to stop.
//!
//! The listeners are bound in `build`, before the server task starts, so tests read
//! `port()` and `admin_port()` and send requests without sleeping.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::blob::fs::FsBlobStore;
use crate::blob::{BlobStore, S3BlobStore, S3Location};
use crate::clock::{Clock, SystemClock};
use crate::config::BlobBackend;
use crate::config::Settings;
use crate::domain::calendar::BusinessCalendar;
use crate::flow::Services;
use crate::http::state::AppState;
use crate::secrets::{self, Keyring, MasterSecret};
use crate::store;

/// How long background tasks may take to stop after the server has.
const BACKGROUND_STOP: Duration = Duration::from_secs(2);

/// A built, bound, not yet running service.
pub struct Application {
    listener: TcpListener,
    port: u16,
    admin_listener: TcpListener,
    admin_port: u16,
    state: AppState,
}

impl Application {
    /// Builds the service with the system clock.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds the service with a given clock (tests move time).
    pub async fn build_with_clock(
        mut settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let listen = settings.server.listen;
        let listener = TcpListener::bind(listen).await.with_context(|| {
            format!("cannot listen on {listen} (server.listen / HEYAN_SERVER__LISTEN)")
        })?;
        let bound = listener.local_addr().context("reading the bound address")?;
        let admin_listen = settings.server.admin_listen;
        let admin_listener = TcpListener::bind(admin_listen).await.with_context(|| {
            format!(
                "cannot listen on {admin_listen} (server.admin_listen / HEYAN_SERVER__ADMIN_LISTEN)"
            )
        })?;
        let admin_bound = admin_listener
            .local_addr()
            .context("reading the bound admin address")?;
        // With port 0 the default public URL must name the port actually bound.
        if settings.server.public_base_url.is_none() {
            settings.server.public_base_url = Some(format!("http://{bound}"));
        }
        let state = build_state(settings, clock).await?;
        Ok(Self {
            listener,
            port: bound.port(),
            admin_listener,
            admin_port: admin_bound.port(),
            state,
        })
    }

    /// The public port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin listener's port actually bound (useful with port 0).
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// Replaces the SMS provider (`heyan demo` reads codes from a log provider's mailbox).
    pub fn with_sms(mut self, sms: Arc<dyn crate::sms::SmsSender>) -> Self {
        self.state.services.sms = sms;
        self
    }

    /// The shared state (tests reach the store through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves both listeners until `shutdown` completes, then lets in-flight requests finish
    /// for up to `server.shutdown_grace_secs`.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.state.settings.server.shutdown_grace_secs);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(crate::flow::webhooks::run_worker(
            self.state.services.clone(),
            stop_rx.clone(),
        ));
        let sms = tokio::spawn(crate::flow::sms_outbox::run_worker(
            self.state.services.clone(),
            stop_rx.clone(),
        ));
        let housekeeping = tokio::spawn(crate::flow::maintenance::run(
            self.state.services.clone(),
            stop_rx,
        ));
        let app = crate::http::router(self.state.clone());
        let admin = crate::http::admin_router(self.state);
        // One shutdown signal, seen by both servers.
        let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stopping_tx.send(true);
        });
        let stopping = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            // An error means the sender is gone without a signal: keep serving.
            if rx.wait_for(|stop| *stop).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let (public, admin) = tokio::join!(
            serve_until(
                "public",
                self.listener,
                app,
                stopping(stopping_rx.clone()),
                grace
            ),
            serve_until(
                "admin",
                self.admin_listener,
                admin,
                stopping(stopping_rx),
                grace
            ),
        );
        let served = public.and(admin.context("the admin listener"));
        let _ = stop_tx.send(true);
        // Background work gets a moment to finish; a delivery cut short stays leased in the
        // outbox and is retried after its lease, so stopping never loses an event.
        for mut task in [worker, sms, housekeeping] {
            if tokio::time::timeout(BACKGROUND_STOP, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
        served
    }
}

/// Serves `app` on `listener` (named `name` in the logs) until `shutdown`, then waits up to
/// `grace` for in-flight requests.
async fn serve_until(
    name: &'static str,
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> anyhow::Result<()> {
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!(
            listener = name,
            "shutting down: finishing in-flight requests"
        );
        // The receiver is gone only when the server already stopped.
        let _ = stopping_tx.send(());
    };
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        finished = &mut server => return finished.context("server task")?.context("serving HTTP"),
        _ = stopping_rx => {}
    }
    match tokio::time::timeout(grace, &mut server).await {
        Ok(finished) => finished.context("server task")?.context("serving HTTP"),
        Err(_) => {
            server.abort();
            tracing::warn!(
                listener = name,
                grace_secs = grace.as_secs(),
                "in-flight requests still running after the grace period; exiting"
            );
            Ok(())
        }
    }
}

/// The blob store `[blob]` names, proven usable: a folder that is writable, or a bucket
/// that takes a probe blob (so a wrong key or bucket fails at start-up, not on the first
/// upload).
async fn open_blob_store(
    settings: &Settings,
    keys: &Keyring,
) -> anyhow::Result<Arc<dyn BlobStore>> {
    match settings.blob.backend {
        BlobBackend::Fs => {
            let dir = settings.blob_dir();
            let store = FsBlobStore::open(dir.clone(), keys.clone())
                .with_context(|| format!("opening the blob store at {}", dir.display()))?;
            Ok(Arc::new(store))
        }
        BlobBackend::S3 => {
            let location = s3_location(&settings.blob)?;
            let store = S3BlobStore::new(&location, keys.clone())
                .context("setting up the S3 blob store (blob.s3_*)")?;
            store.check().await.with_context(|| {
                format!(
                    "writing a probe blob to bucket {} at {}",
                    location.bucket, location.endpoint
                )
            })?;
            Ok(Arc::new(store))
        }
    }
}

/// The bucket and credentials from `[blob]` (already validated), the secret key read from
/// its file when given that way.
pub fn s3_location(blob: &crate::config::BlobSettings) -> anyhow::Result<S3Location> {
    let secret = match (&blob.s3_secret_access_key, &blob.s3_secret_access_key_file) {
        (Some(secret), _) => secret.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading blob.s3_secret_access_key_file {}", path.display()))?
            .trim()
            .to_owned()
            .into(),
        (None, None) => anyhow::bail!("blob.s3_secret_access_key is missing"),
    };
    let required = |value: &Option<String>, name: &str| {
        value
            .clone()
            .with_context(|| format!("blob.{name} is required when blob.backend = \"s3\""))
    };
    Ok(S3Location {
        endpoint: required(&blob.s3_endpoint, "s3_endpoint")?,
        bucket: required(&blob.s3_bucket, "s3_bucket")?,
        region: blob.s3_region.clone().unwrap_or_else(|| "us-east-1".into()),
        path_style: blob.s3_path_style.unwrap_or(true),
        prefix: blob.s3_prefix.clone().unwrap_or_default(),
        access_key_id: required(&blob.s3_access_key_id, "s3_access_key_id")?,
        secret_access_key: secret,
    })
}

/// Opens every dependency named by the settings.
pub async fn build_state(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let keys = load_keyring(&settings)?;
    let store = store::connect(&settings.database_url(), settings.database.max_connections).await?;
    if settings.database.migrate_on_start {
        store.migrate().await.context("migrating the database")?;
    }
    let blobs = open_blob_store(&settings, &keys).await?;
    let calendar = load_calendar(&settings)?;
    let sms =
        crate::sms::from_settings(&settings.sms).context("setting up the SMS provider (sms.*)")?;
    let services = Services {
        sms,
        store,
        blobs,
        settings: Arc::new(settings),
        clock,
        keys,
        calendar: Arc::new(calendar),
        outbox_wakeup: Arc::new(Notify::new()),
        sms_wakeup: Arc::new(Notify::new()),
        photo_gate: crate::imaging::pipeline::PhotoGate::per_core(),
    };
    Ok(AppState {
        services,
        metrics: crate::http::metrics::handle(),
    })
}

/// The shipped calendar plus the operator's extra year files, in the order listed.
pub fn load_calendar(settings: &Settings) -> anyhow::Result<BusinessCalendar> {
    let mut calendar = BusinessCalendar::builtin().context("the shipped business-day calendar")?;
    for path in &settings.calendar.extra_files {
        let setting = "calendar.extra_files (HEYAN_CALENDAR__EXTRA_FILES)";
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{setting}: cannot read {}", path.display()))?;
        calendar = calendar
            .with_extra(&path.display().to_string(), &text)
            .with_context(|| format!("{setting}: {}", path.display()))?;
    }
    Ok(calendar)
}

/// The keyring from the configured master secret; in development, generated into the data
/// folder on first start.
pub fn load_keyring(settings: &Settings) -> anyhow::Result<Keyring> {
    use secrecy::ExposeSecret;
    let current = match (
        &settings.secrets.master_secret,
        &settings.secrets.master_secret_file,
    ) {
        (Some(text), _) => MasterSecret::parse(text.expose_secret())
            .context("secrets.master_secret (HEYAN_SECRETS__MASTER_SECRET)")?,
        (None, Some(path)) => secrets::load_file(path)
            .context("secrets.master_secret_file (HEYAN_SECRETS__MASTER_SECRET_FILE)")?,
        (None, None) => {
            let path = settings.generated_secret_path();
            let (secret, generated) = secrets::load_or_generate(&path)
                .with_context(|| format!("development master secret at {}", path.display()))?;
            if generated {
                tracing::warn!(path = %path.display(), "generated a development master secret; production must provide one");
            }
            secret
        }
    };
    let previous = settings
        .secrets
        .previous
        .iter()
        .enumerate()
        .map(|(i, s)| {
            MasterSecret::parse(s.expose_secret())
                .with_context(|| format!("secrets.previous[{i}] (HEYAN_SECRETS__PREVIOUS)"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Keyring::new(&current, &previous))
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_millis(300)).await;
        "done"
    }

    async fn very_slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(600)).await;
        "never"
    }

    async fn start(
        grace: Duration,
    ) -> (
        String,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = axum::Router::new()
            .route("/slow", get(slow))
            .route("/very-slow", get(very_slow));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_until(
            "test",
            listener,
            app,
            async { drop(stopped.await) },
            grace,
        ));
        (base, stop, server)
    }

    #[tokio::test]
    async fn a_request_in_flight_at_shutdown_still_gets_its_answer() {
        let (base, stop, server) = start(Duration::from_secs(10)).await;
        let in_flight = tokio::spawn(reqwest::get(format!("{base}/slow")));
        // Wait until the request has reached the handler.
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).expect("server listening for shutdown");
        let response = in_flight
            .await
            .expect("task")
            .expect("answered, not cut off");
        assert_eq!(response.text().await.expect("body"), "done");
        server.await.expect("task").expect("clean stop");
    }

    #[tokio::test]
    async fn shutdown_gives_up_on_requests_that_outlive_the_grace_period() {
        let (base, stop, server) = start(Duration::from_millis(200)).await;
        let _in_flight = tokio::spawn(reqwest::get(format!("{base}/very-slow")));
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).expect("server listening for shutdown");
        let stopped = tokio::time::timeout(Duration::from_secs(30), server).await;
        stopped
            .expect("the server stops after the grace period")
            .expect("task")
            .expect("clean stop");
    }
}
