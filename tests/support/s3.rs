//! A real S3-compatible server for tests: `s3s-fs` (crates.io, 0.14.1), which checks
//! request signatures and honours conditional puts, started on a loopback port with a
//! bucket of its own in a temporary folder. Found through `HEYAN_S3S_FS`, `PATH` or the
//! cache `.ci/run` installs it into; without it the S3 tests skip with a notice, unless
//! `REQUIRE_S3=1` (set by `.ci/run`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use heyan::blob::S3Location;

/// Where `.ci/run` installs the server (outside the clone, kept between runs).
const CACHED: &str = "/var/tmp/heyan-tools/s3s-fs-0.14.1/bin/s3s-fs";
pub const ACCESS_KEY: &str = "heyan-test-access";
pub const SECRET_KEY: &str = "heyan-test-secret-key";
pub const BUCKET: &str = "heyan-test";

/// The `s3s-fs` binary, or `None` after a notice when it is missing and not required.
pub fn server_or_skip() -> Option<PathBuf> {
    let from_env = std::env::var_os("HEYAN_S3S_FS").map(PathBuf::from);
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("s3s-fs"))
            .find(|p| p.is_file())
    });
    let found = from_env
        .into_iter()
        .chain(on_path)
        .chain(Some(PathBuf::from(CACHED)))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("REQUIRE_S3").as_deref() != Ok("1"),
            "REQUIRE_S3=1 but s3s-fs is not installed (.ci/run installs it into {CACHED})"
        );
        let _ = writeln!(
            std::io::stderr(),
            "NOTE: S3 tests skipped: s3s-fs not found (cargo install s3s-fs --version 0.14.1 \
             --locked --features binary, or set HEYAN_S3S_FS); .ci/run installs it"
        );
    }
    found
}

/// A running `s3s-fs` with one bucket; killed on drop.
pub struct S3Server {
    child: Child,
    root: tempfile::TempDir,
    pub endpoint: String,
}

impl S3Server {
    /// Starts the server and waits until it accepts connections.
    pub async fn start(program: &Path) -> Self {
        let root = tempfile::tempdir().expect("a folder for the bucket");
        std::fs::create_dir(root.path().join(BUCKET)).expect("the bucket");
        // The port is free when asked but could be taken before the server binds it.
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut child = Command::new(program)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(root.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
            if wait_ready(&mut child, port).await {
                return S3Server {
                    child,
                    root,
                    endpoint: format!("http://127.0.0.1:{port}"),
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("s3s-fs did not start");
    }

    /// The bucket with these credentials and `prefix`.
    pub fn location(&self, prefix: &str) -> S3Location {
        S3Location {
            endpoint: self.endpoint.clone(),
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            path_style: true,
            prefix: prefix.into(),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.to_owned().into(),
        }
    }

    /// The file the server keeps an object's bytes in.
    pub fn object_file(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(key)
    }
}

/// Whether the server accepts connections within ten seconds.
async fn wait_ready(child: &mut Child, port: u16) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
