//! Running the pipeline beside the server rather than on it: [`PhotoGate`] moves each run
//! to tokio's blocking pool, lets at most `max_running` run at once (each needs up to
//! ~250 MB for a 40 MP progressive JPEG with the pure-Rust codec, which decodes at full
//! size, ~150 MB for a baseline one, well under 100 MB with libjpeg-turbo; `cargo bench
//! --bench pipeline` measures it) and at most `max_waiting` queue behind them, and stops a
//! run whose caller went away ([`CancelFlag`], checked between stages).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::PipelineError;
use super::{process_cancellable, Options, PhotoKind, Processed};

/// Set when the caller no longer wants the result; the pipeline stops at its next stage.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelFlag::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn check(&self) -> Result<(), PipelineError> {
        if self.is_cancelled() {
            Err(PipelineError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Sets the flag when dropped: a request future dropped by a disconnect cancels its run.
struct CancelOnDrop(CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Bounds how many pipelines run and wait at once. Cheap to clone (an `Arc` inside).
#[derive(Debug, Clone)]
pub struct PhotoGate {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
}

impl PhotoGate {
    /// At most `max_running` pipelines at once (at least 1), and at most `max_waiting`
    /// more queued; beyond that, [`PhotoGate::process`] answers [`PipelineError::Busy`].
    pub fn new(max_running: usize, max_waiting: usize) -> Self {
        let max_running = max_running.max(1);
        PhotoGate {
            running: Arc::new(Semaphore::new(max_running)),
            admitted: Arc::new(Semaphore::new(max_running + max_waiting)),
        }
    }

    /// One pipeline per available core, and as many again waiting.
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores, cores)
    }

    /// Runs [`process`](super::process) on the blocking pool inside the current tracing
    /// span. Dropping the returned future (the client disconnected) cancels the run at its
    /// next stage; the permit is held until the blocking work has really stopped.
    pub async fn process(
        &self,
        input: Arc<[u8]>,
        kind: PhotoKind,
        opts: Arc<Options>,
    ) -> Result<Processed, PipelineError> {
        let (processed, ()) = self
            .admit()?
            .process_then(input, kind, opts, |_| ())
            .await?;
        Ok(processed)
    }

    /// Runs other CPU-heavy work (liveness frames, face search, password hashing) on the
    /// blocking pool under the same bounds as [`PhotoGate::process`]; `Busy` when full.
    pub async fn run<R, F>(&self, work: F) -> Result<R, PipelineError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.admit()?.run(work).await
    }

    /// Takes a place in the queue now, so that a caller can learn it is `Busy` before it
    /// counts anything against a person (a login attempt, an upload), and run the work
    /// later with [`Admission::run`].
    pub fn admit(&self) -> Result<Admission, PipelineError> {
        let admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| PipelineError::Busy)?;
        Ok(Admission {
            admitted,
            running: Arc::clone(&self.running),
        })
    }
}

/// A place in a [`PhotoGate`]'s queue; dropping it gives the place back.
#[derive(Debug)]
pub struct Admission {
    admitted: OwnedSemaphorePermit,
    running: Arc<Semaphore>,
}

impl Admission {
    /// Runs [`process`](super::process) and then `then` on its result (a face search on
    /// the preview, say) in one blocking task, so all of it is bounded by the gate.
    /// Dropping the returned future (the client disconnected) cancels the pipeline at its
    /// next stage; the permits are held until the blocking work has really stopped.
    pub async fn process_then<R, F>(
        self,
        input: Arc<[u8]>,
        kind: PhotoKind,
        opts: Arc<Options>,
        then: F,
    ) -> Result<(Processed, R), PipelineError>
    where
        F: FnOnce(&Processed) -> R + Send + 'static,
        R: Send + 'static,
    {
        let running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| PipelineError::Internal("photo gate closed".into()))?;
        let admitted = self.admitted;
        let cancel = CancelFlag::new();
        let guard = CancelOnDrop(cancel.clone());
        let span = tracing::Span::current();
        let task = tokio::task::spawn_blocking(move || {
            let _permits = (admitted, running);
            span.in_scope(|| {
                let processed = process_cancellable(&input, kind, &opts, &cancel)?;
                cancel.check()?;
                let extra = then(&processed);
                Ok((processed, extra))
            })
        });
        let result = task
            .await
            .map_err(|e| PipelineError::Internal(format!("pipeline task failed: {e}")))?;
        drop(guard);
        result
    }

    /// Waits for a running slot and runs `work` on the blocking pool inside the current
    /// tracing span.
    pub async fn run<R, F>(self, work: F) -> Result<R, PipelineError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| PipelineError::Internal("photo gate closed".into()))?;
        let admitted = self.admitted;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permits = (admitted, running);
            span.in_scope(work)
        })
        .await
        .map_err(|e| PipelineError::Internal(format!("gated task failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_cancelled_flag_stops_the_run_before_decoding() {
        let flag = CancelFlag::new();
        flag.cancel();
        let jpeg = crate::imaging::pipeline::testkit::sample("boats.jpg");
        let err =
            process_cancellable(&jpeg, PhotoKind::Front, &Options::default(), &flag).unwrap_err();
        assert!(matches!(err, PipelineError::Cancelled), "{err:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gate_refuses_beyond_running_plus_waiting() {
        let gate = PhotoGate::new(1, 1);
        let input: Arc<[u8]> = crate::imaging::pipeline::testkit::sample("forest.jpg").into();
        let opts = Arc::new(Options::default());
        let calls: Vec<_> = (0..3)
            .map(|_| {
                let (gate, input, opts) = (gate.clone(), Arc::clone(&input), Arc::clone(&opts));
                tokio::spawn(async move { gate.process(input, PhotoKind::Front, opts).await })
            })
            .collect();
        let mut codes = Vec::new();
        for call in calls {
            codes.push(match call.await.unwrap() {
                Ok(_) => "ok",
                Err(e) => e.code().as_str(),
            });
        }
        codes.sort();
        assert_eq!(codes, vec!["ok", "ok", "photo_busy"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_future_frees_the_gate() {
        let gate = PhotoGate::new(1, 0);
        let input: Arc<[u8]> = crate::imaging::pipeline::testkit::sample("forest.jpg").into();
        let opts = Arc::new(Options::default());
        // Given up on almost at once, as by a client that disconnects.
        let call = gate.process(Arc::clone(&input), PhotoKind::Front, Arc::clone(&opts));
        let _ = tokio::time::timeout(Duration::from_millis(1), call).await;
        // The abandoned run stops at its next stage and hands its permits back.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match gate
                .process(Arc::clone(&input), PhotoKind::Front, Arc::clone(&opts))
                .await
            {
                Err(PipelineError::Busy) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(5)).await
                }
                other => {
                    assert!(other.is_ok(), "{other:?}");
                    break;
                }
            }
        }
    }
}
