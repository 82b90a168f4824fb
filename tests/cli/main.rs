//! The real `heyan` binary, run as an operator would: in an empty folder, with settings
//! from the environment, stopped with SIGTERM.

#[path = "../support/mod.rs"]
mod support;

// The S3 test server and the signature-checking receiver (SMS gateway, webhooks); this
// binary uses part of each.
#[allow(dead_code)]
#[path = "../api/receiver.rs"]
mod receiver;
#[allow(dead_code)]
#[path = "../support/s3.rs"]
mod s3;

mod copy_database;
mod move_to_s3;
mod two_instances;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::TestDb;

/// `heyan` in `dir` with a clean `HEYAN_*` environment plus `vars`.
fn heyan(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_heyan"));
    cmd.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("HEYAN_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.envs(vars.iter().copied());
    cmd
}

fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    heyan(dir, args, vars)
        .stdin(Stdio::null())
        .output()
        .expect("run heyan")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_clean_failure(out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "exit code; stderr: {err}");
    assert!(
        !err.contains("panicked"),
        "a panic instead of a message: {err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Polls `url` until it answers (the server is another process; there is nothing to await).
async fn wait_until_up(url: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if reqwest::get(url).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("heyan exited early with {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("heyan never answered {url}");
}

/// Sends SIGTERM and returns the exit code, failing if the process outlives `limit`.
fn terminate(child: &mut Child, limit: Duration) -> Option<i32> {
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM failed");
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("heyan still running {limit:?} after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn serve_and_stop(dir: &Path, extra: &[(&str, &str)]) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let admin_listen = format!("127.0.0.1:{}", free_port());
    let mut vars = vec![
        ("HEYAN_SERVER__LISTEN", listen.as_str()),
        ("HEYAN_SERVER__ADMIN_LISTEN", admin_listen.as_str()),
    ];
    vars.extend_from_slice(extra);
    let mut child = heyan(dir, &["serve"], &vars)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn heyan serve");
    let base = format!("http://{listen}");
    wait_until_up(&format!("{base}/healthz"), &mut child).await;
    for path in ["/healthz", "/readyz"] {
        let status = reqwest::get(format!("{base}{path}"))
            .await
            .expect("answer")
            .status();
        assert_eq!(status, 200, "{path}");
    }
    let metrics = |base: String| async move {
        reqwest::get(format!("{base}/metrics"))
            .await
            .expect("answer")
            .status()
    };
    assert_eq!(
        metrics(base.clone()).await,
        404,
        "no metrics on the public port"
    );
    assert_eq!(metrics(format!("http://{admin_listen}")).await, 200);
    // DESIGN: exit 0 within 5 seconds of SIGTERM.
    assert_eq!(
        terminate(&mut child, Duration::from_secs(5)),
        Some(0),
        "exit code after SIGTERM"
    );
}

#[tokio::test]
async fn serve_in_an_empty_folder_creates_its_data_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    serve_and_stop(dir.path(), &[]).await;
    let data = dir.path().join("data");
    assert!(data.join("heyan.db").is_file(), "SQLite database created");
    assert!(data.join("blobs").is_dir(), "blob folder created");
    let mode = std::fs::metadata(data.join("master.key"))
        .expect("secret generated")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the generated secret is private");
    // A second start reuses everything.
    serve_and_stop(dir.path(), &[]).await;
}

#[tokio::test]
async fn serve_runs_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    serve_and_stop(dir.path(), &[("HEYAN_DATABASE__URL", db.url())]).await;
    assert!(
        !dir.path().join("data/heyan.db").exists(),
        "no SQLite file when PostgreSQL is configured"
    );
}

#[test]
fn a_bad_setting_stops_start_up_and_names_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(
        dir.path(),
        &["serve"],
        &[("HEYAN_SERVER__REQUEST_TIMEOUT_SECS", "soon")],
    );
    assert_clean_failure(
        &out,
        2,
        &[
            "server.request_timeout_secs",
            "HEYAN_SERVER__REQUEST_TIMEOUT_SECS",
        ],
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing created before the settings are valid"
    );
}

#[test]
fn an_unknown_database_scheme_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(
        dir.path(),
        &["serve"],
        &[("HEYAN_DATABASE__URL", "mysql://root@localhost/heyan")],
    );
    assert_clean_failure(&out, 2, &["database.url", "unknown scheme `mysql`"]);
}

#[test]
fn an_unreachable_postgres_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("postgres://heyan:pw@127.0.0.1:{}/heyan", free_port());
    let out = run(dir.path(), &["migrate"], &[("HEYAN_DATABASE__URL", &url)]);
    assert_clean_failure(&out, 1, &["cannot connect to PostgreSQL", "heyan:***@"]);
    assert!(!stderr(&out).contains(":pw@"), "the password is redacted");
}

#[test]
fn an_unusable_data_folder_is_a_clear_error_and_touches_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"keep me").expect("write");
    let data_dir = blocker.join("data");
    let out = run(
        dir.path(),
        &["serve"],
        &[("HEYAN_DATA_DIR", data_dir.to_str().expect("utf-8"))],
    );
    assert_clean_failure(&out, 1, &[blocker.to_str().expect("utf-8")]);
    assert_eq!(std::fs::read(&blocker).expect("read"), b"keep me");
}

#[test]
fn a_readable_master_key_is_refused_and_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let key = data.join("master.key");
    let secret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    std::fs::write(&key, secret).expect("write");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = run(dir.path(), &["serve"], &[]);
    assert_clean_failure(&out, 1, &["master.key", "644"]);
    assert_eq!(std::fs::read_to_string(&key).expect("read"), secret);
}

#[test]
fn a_malformed_master_secret_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(
        dir.path(),
        &["serve"],
        &[("HEYAN_SECRETS__MASTER_SECRET", "too-short")],
    );
    assert_clean_failure(&out, 1, &["secrets.master_secret"]);
}

#[test]
fn production_mode_names_every_development_only_choice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(dir.path(), &["serve"], &[("HEYAN_MODE", "production")]);
    assert_clean_failure(
        &out,
        2,
        &["sms.provider", "master secret", "review.cookie_secure"],
    );
}

#[test]
fn check_config_prints_settings_with_the_password_redacted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(
        dir.path(),
        &["check-config"],
        &[("HEYAN_DATABASE__URL", "postgres://heyan:hunter2@db/heyan")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("configuration OK"), "{text}");
    assert!(text.contains("heyan:***@db"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        !dir.path().join("data").exists(),
        "check-config has no side effects"
    );
}

#[test]
fn a_config_file_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("heyan.toml"),
        "[server]\nlisten = \"127.0.0.1:9123\"\n",
    )
    .expect("write");
    let out = run(dir.path(), &["--config", "heyan.toml", "check-config"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("listen=127.0.0.1:9123"),
        "{}",
        stdout(&out)
    );
    let typo = run(
        dir.path(),
        &["--config", "missing.toml", "check-config"],
        &[],
    );
    assert_clean_failure(&typo, 2, &["missing.toml"]);
}

#[test]
fn migrate_prepares_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("migrations applied"));
    assert!(dir.path().join("data/heyan.db").is_file());
}

#[test]
fn client_add_shows_the_key_once_and_stores_only_its_hash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(
        dir.path(),
        &[
            "client",
            "add",
            "--name",
            "示例云",
            "--webhook-url",
            "https://filing.example.com/hook",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("api_key: "))
        .expect("the key is printed")
        .to_owned();
    assert!(key.starts_with("hyk_") && key.len() > 40, "{key}");
    assert!(text.contains("client_id: cli_"), "{text}");

    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("data")).expect("data") {
        stored.extend(std::fs::read(entry.expect("entry").path()).unwrap_or_default());
    }
    let hay = String::from_utf8_lossy(&stored);
    assert!(!hay.contains(&key[4..]), "the API key itself is stored");

    let again = run(dir.path(), &["client", "add", "--name", "示例云"], &[]);
    assert_clean_failure(&again, 2, &["exists already"]);
    let list = run(dir.path(), &["client", "list"], &[]);
    assert!(
        stdout(&list).contains("示例云\tactive\thttps://filing.example.com/hook"),
        "{}",
        stdout(&list)
    );
    assert!(!stdout(&list).contains(&key), "list never shows keys");
}

#[test]
fn client_add_refuses_a_bad_webhook_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(
        dir.path(),
        &["client", "add", "--name", "x", "--webhook-url", "ftp://x"],
        &[],
    );
    assert_clean_failure(&out, 2, &["webhook_url"]);
}

fn reviewer_add(dir: &Path, name: &str, password: &str) -> Output {
    use std::io::Write;
    let mut child = heyan(
        dir,
        &[
            "reviewer",
            "add",
            "--name",
            name,
            "--role",
            "reviewer,auditor",
            "--password-stdin",
        ],
        &[],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write password");
    child.wait_with_output().expect("wait")
}

#[test]
fn reviewer_add_takes_a_password_from_stdin_and_refuses_weak_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = reviewer_add(dir.path(), "li.lei", "correct horse battery");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("reviewer_id: rev_"));
    assert!(
        !stdout(&out).contains("password"),
        "a given password is not echoed"
    );

    let weak = reviewer_add(dir.path(), "han.meimei", "short");
    assert_clean_failure(&weak, 2, &["password"]);
    let dup = reviewer_add(dir.path(), "li.lei", "another long password");
    assert_clean_failure(&dup, 2, &["exists already"]);
}

#[test]
fn reviewer_add_generates_a_password_when_none_is_given() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(dir.path(), &["reviewer", "add", "--name", "wang.fang"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let password = stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("password: ").map(str::to_owned))
        .expect("a generated password is printed");
    assert_eq!(password.chars().count(), 16);
}

#[test]
fn reviewer_disable_and_reset_password_name_unknown_accounts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let added = reviewer_add(dir.path(), "zhao.lei", "correct horse battery");
    assert!(added.status.success(), "{}", stderr(&added));
    let reset = run(
        dir.path(),
        &["reviewer", "reset-password", "--name", "zhao.lei"],
        &[],
    );
    assert!(reset.status.success(), "{}", stderr(&reset));
    let password = stdout(&reset)
        .lines()
        .find_map(|l| l.strip_prefix("password: ").map(str::to_owned))
        .expect("the new password is printed once");
    assert_eq!(password.chars().count(), 16);
    let disabled = run(
        dir.path(),
        &["reviewer", "disable", "--name", "zhao.lei"],
        &[],
    );
    assert!(disabled.status.success(), "{}", stderr(&disabled));
    assert!(stdout(&disabled).contains("disabled"));
    let unknown = run(
        dir.path(),
        &["reviewer", "disable", "--name", "nobody"],
        &[],
    );
    assert_clean_failure(&unknown, 2, &["no reviewer with this name"]);
    let purge = run(dir.path(), &["purge"], &[]);
    assert!(purge.status.success(), "{}", stderr(&purge));
    assert!(
        stdout(&purge).contains("purged 0 photos of 0 cases"),
        "{}",
        stdout(&purge)
    );
}

/// `heyan demo` plays the whole flow and leaves stamped photos that decode; with `--keep`
/// the case waits in the kept database, where `heyan purge` leaves it alone.
#[test]
fn demo_runs_the_whole_flow_and_writes_the_photos() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(dir.path(), &["demo", "--out", "shots", "--keep"], &[]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let printed = stdout(&out);
    for step in [
        "POST /filing/v1/cases → 201",
        "POST /app/v1/liveness/challenge → 201",
        "PUT /app/v1/photos/back → 200",
        "POST /app/v1/complete → 201",
        "/submit → 200",
    ] {
        assert!(printed.contains(step), "{step} in:\n{printed}");
    }
    for kind in ["liveness", "handheld", "front", "back"] {
        let path = dir.path().join("shots").join(format!("{kind}.jpg"));
        let image = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(image.width() >= 480, "{kind}: {}", image.width());
    }
    let code = image::open(dir.path().join("shots/code.png")).expect("code png");
    assert!(code.width() > 300);
    assert!(
        dir.path().join("shots/data/heyan.db").exists(),
        "the kept database"
    );
    let purge = run(dir.path(), &["purge"], &[("HEYAN_DATA_DIR", "shots/data")]);
    assert!(
        stdout(&purge).contains("purged 0 photos"),
        "{}",
        stdout(&purge)
    );
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().expect("temp dir");
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["migrate"],
        &["check-config"],
        &["client"],
        &["client", "add"],
        &["client", "list"],
        &["client", "rotate-key"],
        &["client", "keys"],
        &["client", "revoke-key"],
        &["client", "revoke"],
        &["reviewer"],
        &["reviewer", "add"],
        &["reviewer", "disable"],
        &["reviewer", "reset-password"],
        &["purge"],
        &["demo"],
        &["audit"],
        &["audit", "verify"],
        &["openapi"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let out = run(dir.path(), &args, &[]);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("Usage:"),
            "{args:?}: {}",
            stdout(&out)
        );
    }
}

#[tokio::test]
async fn audit_verify_passes_an_intact_chain_and_names_the_first_broken_link() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let vars = [("HEYAN_DATABASE__URL", db.url())];
    let verify = || run(dir.path(), &["audit", "verify"], &vars);

    let empty = verify();
    assert!(empty.status.success(), "{}", stderr(&empty));
    assert_eq!(stdout(&empty).trim(), "audit chain OK: 0 entries");

    // No command writes audit entries yet, so they come through the library.
    let store = db.store();
    for n in 1..=5 {
        let entry = heyan::store::NewAuditEntry {
            at: chrono::Utc::now(),
            actor_type: "system".into(),
            actor_id: "heyan".into(),
            action: "test.appended".into(),
            case_id: None,
            ip: None,
            details: format!("{{\"n\":{n}}}"),
        };
        store.append_audit(&entry).await.expect("append");
    }
    let intact = verify();
    assert!(intact.status.success(), "{}", stderr(&intact));
    assert_eq!(stdout(&intact).trim(), "audit chain OK: 5 entries");

    let edit = r#"update audit_log set details = '{"x":1}' where seq = 2"#;
    assert_eq!(db.execute_sql(edit).await, 1);
    assert_clean_failure(
        &verify(),
        1,
        &["audit chain BROKEN at entry 2: hash_mismatch ("],
    );

    let undo = r#"update audit_log set details = '{"n":2}' where seq = 2"#;
    assert_eq!(db.execute_sql(undo).await, 1);
    assert!(
        verify().status.success(),
        "the original content verifies again"
    );

    assert_eq!(
        db.execute_sql("delete from audit_log where seq = 4").await,
        1
    );
    let gap = verify();
    assert_clean_failure(&gap, 1, &["audit chain BROKEN at entry 4: gap ("]);
    assert!(stdout(&gap).is_empty(), "no OK line: {}", stdout(&gap));
}

#[test]
fn openapi_prints_the_document() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(dir.path(), &["openapi"], &[]);
    assert!(out.status.success());
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(spec["paths"]["/readyz"].is_object());
}

#[test]
fn settings_prints_the_reference_in_docs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(dir.path(), &["settings"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
    )
    .expect("docs/configuration.md");
    assert_eq!(stdout(&out), committed);
    assert!(committed.contains("`HEYAN_APP__SESSION_MAX_MINUTES`"));
}

#[test]
fn logs_are_json_lines_in_json_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(
        dir.path(),
        &["client", "add", "--name", "json-logs"],
        &[("HEYAN_LOG__FORMAT", "json")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let logs: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("each log line is JSON"))
        .collect();
    let created = logs
        .iter()
        .find(|l| l["message"] == "client created")
        .expect("the client creation is logged");
    assert!(
        created["client.id"]
            .as_str()
            .is_some_and(|id| id.starts_with("cli_")),
        "{created}"
    );
    assert_eq!(created["level"], "INFO");
}

#[test]
fn a_key_rotation_and_revocations_run_from_the_cli() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(dir.path(), &["client", "add", "--name", "rot"], &[]);
    let client_id = stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("client_id: ").map(str::to_owned))
        .expect("id");
    let rotated = run(
        dir.path(),
        &["client", "rotate-key", "--client", &client_id],
        &[],
    );
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    assert!(stdout(&rotated).contains("api_key: hyk_"));
    let third = run(
        dir.path(),
        &["client", "rotate-key", "--client", &client_id],
        &[],
    );
    assert_clean_failure(&third, 2, &["two_keys_active"]);
    let keys = run(dir.path(), &["client", "keys", "--client", &client_id], &[]);
    let listing = stdout(&keys);
    assert_eq!(
        listing.lines().filter(|l| l.contains("\tactive\t")).count(),
        2,
        "{listing}"
    );
    let first_key = listing
        .lines()
        .next()
        .and_then(|l| l.split('\t').next())
        .expect("key id")
        .to_owned();
    let revoked = run(
        dir.path(),
        &["client", "revoke-key", "--key", &first_key],
        &[],
    );
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let again = run(
        dir.path(),
        &["client", "revoke-key", "--key", &first_key],
        &[],
    );
    assert_clean_failure(&again, 2, &["no active key"]);
    let bad = run(dir.path(), &["client", "revoke", "--client", "nope"], &[]);
    assert_clean_failure(&bad, 2, &["not a valid id"]);
    let gone = run(
        dir.path(),
        &["client", "revoke", "--client", &client_id],
        &[],
    );
    assert!(gone.status.success(), "{}", stderr(&gone));
    assert!(stdout(&run(dir.path(), &["client", "list"], &[])).contains("\trevoked\t"));
}

#[test]
fn a_webhook_client_gets_its_signing_secret_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(
        dir.path(),
        &[
            "client",
            "add",
            "--name",
            "hooked",
            "--webhook-url",
            "https://filing.example.com/hook",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let secret = stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("webhook_secret: ").map(str::to_owned))
        .expect("secret printed");
    assert!(secret.starts_with("whsec_"));
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("data")).expect("data") {
        stored.extend(std::fs::read(entry.expect("entry").path()).unwrap_or_default());
    }
    assert!(
        !String::from_utf8_lossy(&stored).contains(&secret[6..]),
        "the secret is stored sealed"
    );
}

#[test]
fn a_bad_extra_calendar_file_stops_start_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("cn-2027.toml"), "year = 2027\n").expect("write");
    let out = run(
        dir.path(),
        &["serve"],
        &[("HEYAN_CALENDAR__EXTRA_FILES", "[cn-2027.toml]")],
    );
    assert_clean_failure(&out, 1, &["calendar.extra_files", "cn-2027.toml"]);
}

#[test]
fn photo_processes_a_real_photo_and_refuses_a_text_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples/boats.jpg");
    let out_path = dir.path().join("out.jpg");
    let out = run(
        dir.path(),
        &[
            "photo",
            sample.to_str().expect("utf-8"),
            "out.jpg",
            "--kind",
            "front",
            "--footer",
            "2026-11-26 · 案件 3F9A21",
        ],
        &[],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let jpeg = std::fs::read(&out_path).expect("output written");
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG");
    assert!(
        !jpeg.windows(4).any(|w| w == b"Exif"),
        "no EXIF in the output"
    );
    assert!(
        stdout(&out).contains("watermark"),
        "stage timings printed: {}",
        stdout(&out)
    );

    // A liveness frame from a 640×480 video is fine as a frame, too small as an ID photo.
    let frame = image::imageops::resize(
        &image::open(&sample).expect("sample").to_rgb8(),
        640,
        480,
        image::imageops::FilterType::Triangle,
    );
    frame
        .save(dir.path().join("frame.jpg"))
        .expect("frame written");
    let as_frame = run(
        dir.path(),
        &["photo", "frame.jpg", "f.jpg", "--kind", "frame"],
        &[],
    );
    assert!(as_frame.status.success(), "{}", stdout(&as_frame));
    let as_front = run(
        dir.path(),
        &["photo", "frame.jpg", "g.jpg", "--kind", "front"],
        &[],
    );
    assert_eq!(as_front.status.code(), Some(2));
    assert!(
        stdout(&as_front).contains("too_small"),
        "{}",
        stdout(&as_front)
    );

    std::fs::write(dir.path().join("note.jpg"), "just text, named .jpg").expect("write");
    let refused = run(dir.path(), &["photo", "note.jpg", "x.jpg"], &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stdout(&refused).contains("unsupported_format"),
        "{}",
        stdout(&refused)
    );
    assert!(
        !dir.path().join("x.jpg").exists(),
        "nothing written for a refused photo"
    );
}

/// What a `kill -9` between writing a photo's blob and its row leaves: a blob no row
/// names, and a temporary file of a write that never got renamed. `heyan purge` (and the
/// server's housekeeping) deletes both once they are an hour old.
#[test]
fn purge_deletes_blobs_left_by_a_crash_after_an_hour() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = run(dir.path(), &["purge"], &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("deleted 0 orphaned blobs and 0 interrupted writes"),
        "{}",
        stdout(&first)
    );
    let blobs = dir.path().join("data/blobs");
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    let plant = |shard: &str, name: &str, old: bool| {
        std::fs::create_dir_all(blobs.join(shard)).expect("shard");
        let path = blobs.join(shard).join(name);
        std::fs::write(&path, b"sealed bytes").expect("write");
        if old {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .expect("open")
                .set_modified(two_hours_ago)
                .expect("set mtime");
        }
        path
    };
    let orphan = plant("ab", &format!("ab{}", "0".repeat(30)), true);
    let interrupted = plant("ab", ".00112233aabbccdd.tmp", true);
    let recent = plant("cd", &format!("cd{}", "1".repeat(30)), false);
    let out = run(dir.path(), &["purge"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("deleted 1 orphaned blobs and 1 interrupted writes"),
        "{}",
        stdout(&out)
    );
    assert!(!orphan.exists() && !interrupted.exists());
    assert!(recent.exists(), "an upload may still be writing its row");
}

/// `heyan demo --web` keeps heyan running with a sample case, prints the web flow's URL
/// and the number, and prints the SMS code a sign-in from that page asks for; SIGTERM
/// stops it cleanly and the case stays in DIR/data.
#[tokio::test]
async fn demo_web_serves_the_web_flow_for_a_sample_case_until_stopped() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = heyan(
        dir.path(),
        &["demo", "--web", "--listen", &listen, "--out", "out"],
        &[],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn heyan demo --web");
    let (lines_tx, lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut out = Printed {
        lines,
        seen: Vec::new(),
    };
    let url = out.line_with("web flow:").await;
    let url = url.rsplit(' ').next().expect("url").to_owned();
    assert!(url.starts_with(&format!("http://{listen}/m/")), "{url}");
    let mobile = out.line_with("mobile number:").await;
    let mobile = mobile.rsplit(' ').next().expect("number").to_owned();
    let page = reqwest::get(&url).await.expect("the page answers");
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .expect("html")
        .contains("/m/static/app.js"));

    let token = url.rsplit('/').next().expect("token");
    let http = reqwest::Client::new();
    let asked = http
        .post(format!("http://{listen}/app/v1/sms"))
        .json(&serde_json::json!({ "mobile": mobile, "download_token": token }))
        .send()
        .await
        .expect("sent");
    assert_eq!(asked.status(), 202);
    let code = out.line_with("SMS code:").await;
    let code = code.rsplit(' ').next().expect("code").to_owned();
    let signed_in = http
        .post(format!("http://{listen}/app/v1/sessions"))
        .json(&serde_json::json!({ "mobile": mobile, "code": code, "download_token": token }))
        .send()
        .await
        .expect("sent");
    assert_eq!(signed_in.status(), 201, "the printed code signs in");

    assert_eq!(terminate(&mut child, Duration::from_secs(5)), Some(0));
    assert!(dir.path().join("out/data").is_dir(), "the case is kept");
}

/// A child's stdout, line by line, as it prints.
struct Printed {
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Printed {
    /// The next line containing `needle`, within a minute.
    async fn line_with(&mut self, needle: &str) -> String {
        let wait = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = self.lines.recv().await {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        });
        match wait.await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("the output ended before {needle:?}: {:?}", self.seen),
            Err(_) => panic!("no {needle:?} within a minute: {:?}", self.seen),
        }
    }
}
