//! The `heyan` command line: parse, load settings, dispatch. Every command has `--help`.
//! Errors end the process with a message and a non-zero exit code, never a backtrace:
//! 2 for invalid configuration or usage, 1 for anything else.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::domain::ids::{ClientId, ClientKeyId};
use crate::domain::role::Role;
use crate::error_code::ErrorCode;
use crate::flow::{accounts, FlowError};
use crate::startup::{shutdown_signal, Application};
use crate::{store, telemetry};

/// heyan (核验): the Shanghai-mode App verification service for ICP website filing.
#[derive(Debug, Parser)]
#[command(name = "heyan", version, about, long_about = None)]
pub struct Cli {
    /// TOML configuration file; `HEYAN_*` environment variables override it.
    #[arg(long, global = true, env = "HEYAN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service (migrates the database first unless --no-migrate).
    Serve {
        /// Do not run database migrations at start-up.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load and validate the configuration, print it with secrets redacted, and exit.
    CheckConfig,
    /// Manage filing-system clients and their API keys.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage reviewer accounts.
    #[command(subcommand)]
    Reviewer(ReviewerCommand),
    /// Check the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print the OpenAPI document (JSON) and exit.
    Openapi,
    /// Print the settings reference (Markdown: every setting with its environment variable,
    /// default and meaning) and exit; docs/configuration.md is this output.
    Settings,
    /// Delete the photos that are due: 30 days after the decision, 7 days after the last
    /// activity of an abandoned case (the server also does this on its own).
    Purge,
    /// Copy every photo from the local blob folder (`blob.dir`) into the S3 bucket named
    /// by `blob.s3_*`, under the same ids: the move of an installation to S3. Safe to run
    /// again; photos already in the bucket are checked, not written.
    CopyBlobsToS3,
    /// Copy this installation's SQLite database (`database.url`) into an empty PostgreSQL
    /// database, every table in one transaction; then point `database.url` at it. Stop
    /// `serve` first: writes made during the copy would be left behind.
    CopyDatabase {
        /// The PostgreSQL database to fill, e.g. postgres://heyan@db.internal/heyan.
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Run the whole flow end to end against a heyan started in this process on a
    /// temporary SQLite database: register a sample case, play the App over HTTP, redeem,
    /// submit. Prints every step and writes the watermarked photos.
    Demo {
        /// Where to write the watermarked photos and the code's PNG.
        #[arg(long, default_value = "demo-output", value_name = "DIR")]
        out: PathBuf,
        /// Keep the database under DIR/data, with the case waiting for review, so that
        /// `heyan serve` on that folder shows it in the review console.
        #[arg(long)]
        keep: bool,
        /// Instead of playing the flow: register a sample case, keep heyan running and
        /// print the web flow's URL, to finish the check in a browser (DIR/data keeps it).
        #[arg(long)]
        web: bool,
        /// Where heyan listens with `--web`.
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
        listen: std::net::SocketAddr,
    },
    /// Run the photo pipeline on one file: print the checks and stage timings, write the
    /// watermarked JPEG (exit 2 when the photo is refused, with the retake hint).
    Photo {
        /// The photo to process (JPEG, PNG or WebP).
        input: PathBuf,
        /// Where to write the watermarked JPEG.
        output: PathBuf,
        /// handheld, front, back or frame (a liveness frame).
        #[arg(long, default_value = "handheld")]
        kind: String,
        /// The footer line (date and a non-personal case reference).
        #[arg(long, default_value = "")]
        footer: String,
    },
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Create a client and print its API key (shown once; only a hash is stored).
    Add {
        /// A unique name for the client: the hosting provider as principals know it
        /// (shown to them when their number is in filings at several providers).
        #[arg(long)]
        name: String,
        /// Where heyan POSTs signed events for this client.
        #[arg(long, value_name = "URL")]
        webhook_url: Option<String>,
    },
    /// List clients.
    List,
    /// Start a key rotation: print a second API key; both work until the old one is revoked.
    RotateKey {
        /// The client's id (cli_…).
        #[arg(long)]
        client: String,
    },
    /// List a client's API keys (prefixes only).
    Keys {
        /// The client's id (cli_…).
        #[arg(long)]
        client: String,
    },
    /// Revoke one API key (ends a rotation).
    RevokeKey {
        /// The key's id (key_…), from `client keys`.
        #[arg(long)]
        key: String,
    },
    /// Revoke a client and all its keys.
    Revoke {
        /// The client's id (cli_…).
        #[arg(long)]
        client: String,
    },
}

#[derive(Debug, Subcommand)]
enum ReviewerCommand {
    /// Create a reviewer account. Prints a generated password once unless
    /// --password-stdin is given.
    Add {
        /// Login name (a-z, 0-9, '.', '_', '-').
        #[arg(long)]
        name: String,
        /// Name shown in the console; defaults to the login name.
        #[arg(long)]
        display_name: Option<String>,
        /// Roles, comma-separated: reviewer, auditor.
        #[arg(long, default_value = "reviewer")]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account: it can no longer log in and its sessions end at once.
    Disable {
        /// Login name.
        #[arg(long)]
        name: String,
    },
    /// Set a new password (printed once unless --password-stdin), lift a lock, and end the
    /// account's sessions.
    ResetPassword {
        /// Login name.
        #[arg(long)]
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the whole hash chain and report the first broken link (exit 1 when broken).
    /// Deleting the newest entries cannot be detected from the chain alone.
    Verify,
}

/// Entry point used by `main`.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            let usage = e.downcast_ref::<FlowError>().is_some_and(|f| {
                matches!(
                    f,
                    FlowError::Invalid { .. } | FlowError::Refused { .. } | FlowError::NotFound
                )
            });
            if usage {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn dispatch(command: Command, mut settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve { no_migrate } => {
            if no_migrate {
                settings.database.migrate_on_start = false;
            }
            serve(settings).await
        }
        Command::Migrate => migrate(&settings).await,
        Command::CheckConfig => {
            println!("configuration OK: {}", settings.redacted_summary());
            Ok(())
        }
        Command::Client(cmd) => client(cmd, &settings).await,
        Command::Reviewer(cmd) => reviewer(cmd, &settings).await,
        Command::Audit(cmd) => audit(cmd, &settings).await,
        Command::Photo {
            input,
            output,
            kind,
            footer,
        } => photo(&input, &output, &kind, footer),
        Command::Purge => purge(settings).await,
        Command::CopyBlobsToS3 => copy_blobs_to_s3(&settings).await,
        Command::CopyDatabase { to } => copy_database(&settings, &to).await,
        Command::Demo {
            out,
            keep,
            web,
            listen,
        } => {
            if web {
                let opts = crate::demo::WebDemoOptions {
                    out_dir: out,
                    listen,
                };
                return crate::demo::run_web(opts).await;
            }
            let opts = crate::demo::DemoOptions { out_dir: out, keep };
            crate::demo::run(opts).await.map(|_| ())
        }
        Command::Settings => {
            print!("{}", crate::docs::configuration());
            Ok(())
        }
        Command::Openapi => {
            let spec = crate::http::openapi();
            println!(
                "{}",
                spec.to_pretty_json()
                    .context("serialising the OpenAPI document")?
            );
            Ok(())
        }
    }
}

fn photo(
    input: &std::path::Path,
    output: &std::path::Path,
    kind: &str,
    footer: String,
) -> anyhow::Result<()> {
    use crate::imaging::pipeline::{inspect, process, Options, PhotoKind};
    let kind = PhotoKind::parse(kind).ok_or_else(|| {
        anyhow::Error::new(FlowError::Invalid {
            field: "--kind".into(),
            problem: "unknown_kind",
            message: format!("`{kind}`: use handheld, front, back or frame"),
        })
    })?;
    let opts = Options {
        footer,
        ..Options::for_kind(kind)
    };
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    match process(&bytes, kind, &opts) {
        Ok(out) => {
            std::fs::write(output, &out.jpeg)
                .with_context(|| format!("writing {}", output.display()))?;
            print!("{}", out.summary(&opts.thresholds));
            Ok(())
        }
        Err(e) => {
            if let Ok(report) = inspect(&bytes, &opts) {
                print!("{}", report.summary(&opts.thresholds));
            }
            println!(
                "refused     {} — {} / {}",
                e.code(),
                e.hint_zh(),
                e.hint_en()
            );
            Err(anyhow::Error::new(FlowError::Invalid {
                field: "photo".into(),
                problem: e.code().as_str(),
                message: e.to_string(),
            }))
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(
        settings = %settings.redacted_summary(),
        jpeg = crate::imaging::pipeline::JPEG_BACKEND,
        "starting heyan"
    );
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), admin_port = app.admin_port(), url = %app.state().settings.public_base_url(), "listening");
    app.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    open_store(settings).await?;
    println!(
        "migrations applied to {}",
        crate::config::redact_url(&settings.database_url())
    );
    Ok(())
}

async fn open_store(settings: &Settings) -> anyhow::Result<std::sync::Arc<dyn store::Store>> {
    let store = store::connect(&settings.database_url(), settings.database.max_connections).await?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

async fn client(cmd: ClientCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    match cmd {
        ClientCommand::Add { name, webhook_url } => {
            let keys = crate::startup::load_keyring(settings)?;
            let created = accounts::add_client(
                store.as_ref(),
                &keys,
                &name,
                webhook_url.as_deref(),
                SystemClock.now(),
            )
            .await
            .map_err(|e| explain_flow(e, "client"))?;
            println!("client_id: {}", created.id);
            println!("api_key: {}", created.api_key.expose_secret());
            if let Some(secret) = &created.webhook_secret {
                println!("webhook_secret: {}", secret.expose_secret());
            }
            eprintln!("The API key is shown only once: store it now. heyan keeps only its hash.");
        }
        ClientCommand::List => {
            for c in store.list_clients().await? {
                let state = if c.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                let url = c.webhook_url.as_deref().unwrap_or("-");
                println!("{}\t{}\t{}\t{}", c.id, c.name, state, url);
            }
        }
        ClientCommand::RotateKey { client } => {
            let id = parse_id(&client, ClientId::parse, "--client")?;
            let key = accounts::rotate_key(store.as_ref(), &id, SystemClock.now())
                .await
                .map_err(|e| explain_flow(e, "key"))?;
            println!("api_key: {}", key.expose_secret());
            eprintln!("Both keys work now. Switch the filing system to this one, then `heyan client revoke-key` the old key.");
        }
        ClientCommand::Keys { client } => {
            let id = parse_id(&client, ClientId::parse, "--client")?;
            for k in store.list_client_keys(&id).await? {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{}\t{}…\t{}\t{}", k.id, k.key_prefix, state, k.created_at);
            }
        }
        ClientCommand::RevokeKey { key } => {
            let id = parse_id(&key, ClientKeyId::parse, "--key")?;
            store
                .revoke_client_key(&id, SystemClock.now())
                .await
                .map_err(|e| not_found(e, "no active key with this id"))?;
            println!("key {id} revoked");
        }
        ClientCommand::Revoke { client } => {
            let id = parse_id(&client, ClientId::parse, "--client")?;
            store
                .revoke_client(&id, SystemClock.now())
                .await
                .map_err(|e| not_found(e, "no active client with this id"))?;
            println!("client {id} and its keys revoked");
        }
    }
    Ok(())
}

fn parse_id<T>(
    raw: &str,
    parse: impl Fn(&str) -> Result<T, crate::domain::ids::IdError>,
    flag: &str,
) -> anyhow::Result<T> {
    parse(raw.trim()).map_err(|_| {
        anyhow::Error::new(FlowError::Invalid {
            field: flag.into(),
            problem: "malformed_id",
            message: format!("`{raw}` is not a valid id"),
        })
    })
}

fn not_found(err: store::StoreError, message: &str) -> anyhow::Error {
    match err {
        store::StoreError::NotFound => {
            anyhow::Error::new(FlowError::NotFound).context(message.to_owned())
        }
        other => anyhow::Error::new(other),
    }
}

async fn reviewer(cmd: ReviewerCommand, settings: &Settings) -> anyhow::Result<()> {
    let (name, display_name, role, password_stdin) = match cmd {
        ReviewerCommand::Add {
            name,
            display_name,
            role,
            password_stdin,
        } => (name, display_name, role, password_stdin),
        ReviewerCommand::Disable { name } => {
            let store = open_store(settings).await?;
            accounts::disable_reviewer(store.as_ref(), &name, SystemClock.now())
                .await
                .map_err(|e| explain_flow(e, "reviewer"))?;
            println!("reviewer {name} disabled; their sessions have ended");
            return Ok(());
        }
        ReviewerCommand::ResetPassword {
            name,
            password_stdin,
        } => return reset_password(settings, &name, password_stdin).await,
    };
    let roles = Role::parse_list(&role).context("--role")?;
    let (password, generated) = if password_stdin {
        (read_password_line()?, false)
    } else {
        (accounts::generate_password(), true)
    };
    let store = open_store(settings).await?;
    let display = display_name.unwrap_or_else(|| name.clone());
    let id = accounts::add_reviewer(
        store.as_ref(),
        &name,
        &display,
        &password,
        roles,
        SystemClock.now(),
    )
    .await
    .map_err(|e| explain_flow(e, "reviewer"))?;
    println!("reviewer_id: {id}");
    if generated {
        println!("password: {}", password.expose_secret());
        eprintln!("The password is shown only once.");
    }
    Ok(())
}

async fn reset_password(
    settings: &Settings,
    name: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let (password, generated) = if password_stdin {
        (read_password_line()?, false)
    } else {
        (accounts::generate_password(), true)
    };
    let store = open_store(settings).await?;
    accounts::reset_reviewer_password(store.as_ref(), name, &password, SystemClock.now())
        .await
        .map_err(|e| explain_flow(e, "reviewer"))?;
    println!("password reset for {name}; their sessions have ended");
    if generated {
        println!("password: {}", password.expose_secret());
        eprintln!("The password is shown only once.");
    }
    Ok(())
}

async fn purge(settings: Settings) -> anyhow::Result<()> {
    let state = crate::startup::build_state(settings, std::sync::Arc::new(SystemClock)).await?;
    let report = crate::flow::purge::purge_due(&state.services)
        .await
        .map_err(|e| anyhow::anyhow!("purging: {e}"))?;
    println!("purged {} photos of {} cases", report.photos, report.cases);
    let swept = crate::flow::maintenance::sweep_orphan_blobs(&state.services)
        .await
        .map_err(|e| anyhow::anyhow!("sweeping orphaned blobs: {e}"))?;
    println!(
        "deleted {} orphaned blobs and {} interrupted writes",
        swept.blobs, swept.interrupted_writes
    );
    Ok(())
}

async fn copy_database(settings: &Settings, to: &str) -> anyhow::Result<()> {
    use crate::config::{database_kind_of, redact_url, DatabaseKind};
    use crate::store::{PostgresStore, SqliteStore};
    if settings.database_kind().map_err(anyhow::Error::msg)? != DatabaseKind::Sqlite {
        anyhow::bail!(
            "database.url is not a SQLite database; copy-database moves SQLite to PostgreSQL"
        );
    }
    if database_kind_of(to).map_err(anyhow::Error::msg)? != DatabaseKind::Postgres {
        anyhow::bail!("--to must be a postgres:// URL");
    }
    let source = SqliteStore::connect(&settings.database_url(), 1).await?;
    let target = PostgresStore::connect(to, 2).await?;
    let report = crate::store::transfer::copy_sqlite_to_postgres(&source, &target)
        .await
        .context("copying the database")?;
    for (table, rows) in &report.tables {
        println!("{table:<24} {rows:>8} rows");
    }
    println!(
        "copied {} rows in {} tables to {}; set database.url to it and start serve",
        report.rows(),
        report.tables.len(),
        redact_url(to)
    );
    Ok(())
}

async fn copy_blobs_to_s3(settings: &Settings) -> anyhow::Result<()> {
    use crate::blob::{BlobStore, FsBlobStore, S3BlobStore};
    let keys = crate::startup::load_keyring(settings)?;
    let dir = settings.blob_dir();
    let from = FsBlobStore::open(dir.clone(), keys.clone())
        .with_context(|| format!("opening the blob folder {}", dir.display()))?;
    let location = crate::startup::s3_location(&settings.blob)?;
    let to = S3BlobStore::new(&location, keys).context("setting up the S3 blob store")?;
    to.check()
        .await
        .with_context(|| format!("writing a probe blob to bucket {}", location.bucket))?;
    let report = crate::blob::copy::copy_all(&from, &to)
        .await
        .context("copying the photos")?;
    println!(
        "copied {} photos from {} to s3://{}/{}; {} were there already",
        report.copied,
        dir.display(),
        location.bucket,
        location.prefix,
        report.already_there
    );
    Ok(())
}

async fn audit(cmd: AuditCommand, settings: &Settings) -> anyhow::Result<()> {
    let AuditCommand::Verify = cmd;
    let store = open_store(settings).await?;
    let report = crate::flow::audit::verify(store.as_ref())
        .await
        .context("reading the audit log")?;
    match report.first_broken {
        None => {
            println!("audit chain OK: {} entries", report.entries);
            Ok(())
        }
        Some(broken) => Err(anyhow::anyhow!(
            "audit chain BROKEN at entry {}: {} ({})",
            broken.seq,
            broken.problem,
            broken.detail
        )),
    }
}

fn read_password_line() -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(SecretString::from(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// Turns a flow error into an operator-readable message (kept as `FlowError` for the exit code).
fn explain_flow(err: FlowError, what: &str) -> anyhow::Error {
    let context = match &err {
        FlowError::Refused {
            code: ErrorCode::ClientNameTaken | ErrorCode::ReviewerUsernameTaken,
            ..
        } => {
            format!("cannot add the {what}: a {what} with this name exists already")
        }
        FlowError::NotFound => format!("no {what} with this name"),
        _ => format!("cannot change the {what}"),
    };
    anyhow::Error::new(err).context(context)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
