//! `heyan demo`: the whole flow, end to end, against a heyan started in this process on a
//! fresh SQLite database. It plays the filing system (register, redeem, pull, submit) and
//! the App (SMS code from the log provider, consent, location, liveness frames, three
//! photos, complete) over real HTTP, prints each step with heyan's answer, and writes the
//! watermarked photos and the code's PNG to an output folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use crate::clock::SystemClock;
use crate::config::Settings;
use crate::domain::liveness::LivenessAction;
use crate::flow::accounts;
use crate::imaging::samples;
use crate::sms::log::{LogSms, Mailbox};
use crate::startup::Application;

/// The sample ID photos the project draws itself (marked 样本; never a real card).
const HANDHELD: &[u8] = include_bytes!("../assets/samples/handheld-sample.jpg");
const FRONT: &[u8] = include_bytes!("../assets/samples/id-front-sample.jpg");
const BACK: &[u8] = include_bytes!("../assets/samples/id-back-sample.jpg");

/// People's Square, Shanghai (WGS-84).
const IN_SHANGHAI: (f64, f64) = (31.2304, 121.4737);
/// Frames sent per liveness action.
const FRAMES_PER_ACTION: usize = 4;

/// What `heyan demo` was asked to do.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where the watermarked photos and the code PNG go.
    pub out_dir: PathBuf,
    /// Keep the database and blobs (under `out_dir/data`) and leave the case in review,
    /// so `heyan serve` on that folder shows it to reviewers.
    pub keep: bool,
}

/// What the demo ended with.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// The case's id.
    pub case_id: String,
    /// The image verification code the App got.
    pub code: String,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// The data folder, when kept.
    pub data_dir: Option<PathBuf>,
}

/// What `heyan demo --web` needs.
#[derive(Debug, Clone)]
pub struct WebDemoOptions {
    /// Where the database and photos are kept (`DIR/data`), so that `heyan serve` on
    /// that folder shows the case afterwards.
    pub out_dir: PathBuf,
    /// Where heyan listens; a browser on this machine may use the camera on
    /// `127.0.0.1`/`localhost` without HTTPS.
    pub listen: std::net::SocketAddr,
}

/// `heyan demo --web`: starts heyan, registers a sample case, prints the web flow's URL
/// and the number to type, and prints each SMS code as it is sent (the log provider),
/// until Ctrl-C or SIGTERM.
pub async fn run_web(opts: WebDemoOptions) -> anyhow::Result<()> {
    let data_dir = opts.out_dir.join("data");
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let (server, player) = DemoServer::start(&data_dir, opts.listen, "示例云 demo").await?;
    let base = server.base.clone();
    let mailbox = player.mailbox.clone();
    let mobile = demo_mobile();
    let filing_id = format!("WEB-{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
    let case = player
        .expect(
            "POST /filing/v1/cases",
            player
                .filing(Method::POST, "/filing/v1/cases")
                .json(&registration(&filing_id, &mobile)),
            StatusCode::CREATED,
        )
        .await?;
    let landing = text(&case, "download_page_url")?;
    let token = landing.rsplit('/').next().unwrap_or_default();
    println!("\nheyan demo --web: a sample case is waiting for its principal.");
    println!("  web flow:      {base}/m/{token}");
    println!("  landing page:  {base}/d/{token}");
    println!("  mobile number: {mobile}");
    println!("  SMS codes appear below as they are sent. Ctrl-C stops heyan.");
    println!(
        "  (Open it in a browser on this machine: 127.0.0.1 may use the webcam without \
         HTTPS. On a phone, put heyan behind HTTPS first; see README.)"
    );
    let printer = tokio::spawn(print_codes(mailbox));
    crate::startup::shutdown_signal().await;
    printer.abort();
    server.stop().await?;
    println!(
        "\nStopped. The case stays in {}: HEYAN_DATA_DIR={} cargo run --release -- serve",
        data_dir.display(),
        data_dir.display()
    );
    Ok(())
}

/// Prints each SMS code the log provider receives, as the principal's phone would show it.
async fn print_codes(mailbox: Mailbox) {
    let mut seen = 0;
    loop {
        for code in mailbox.since(seen) {
            seen += 1;
            println!("  SMS code: {code}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the whole flow and prints it.
pub async fn run(opts: DemoOptions) -> anyhow::Result<DemoReport> {
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating {}", opts.out_dir.display()))?;
    let temp = tempfile::tempdir().context("creating a temporary folder")?;
    let data_dir = if opts.keep {
        opts.out_dir.join("data")
    } else {
        temp.path().join("data")
    };
    let listen = "127.0.0.1:0".parse().context("listen address")?;
    let (server, player) = DemoServer::start(&data_dir, listen, "demo-filing-system").await?;
    println!(
        "heyan demo: heyan is running at {} (SQLite in {})",
        server.base,
        data_dir.display()
    );
    let outcome = player.play(&opts.out_dir, opts.keep).await;
    server.stop().await?;
    let (case_id, code, files) = outcome?;
    if opts.keep {
        println!(
            "\nThe case is waiting in the review queue. To review it:\n  HEYAN_DATA_DIR={} cargo run --release -- serve",
            data_dir.display()
        );
    }
    Ok(DemoReport {
        case_id,
        code,
        files,
        data_dir: opts.keep.then_some(data_dir),
    })
}

/// heyan running in this process on `data_dir`, with the log SMS provider; started with
/// a filing client and a player holding its key.
struct DemoServer {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl DemoServer {
    async fn start(
        data_dir: &Path,
        listen: std::net::SocketAddr,
        client_name: &str,
    ) -> anyhow::Result<(Self, Player)> {
        let mut settings = Settings {
            data_dir: data_dir.to_owned(),
            ..Settings::default()
        };
        settings.server.listen = listen;
        settings.server.admin_listen = "127.0.0.1:0".parse().context("admin listen address")?;
        let (sms, mailbox) = LogSms::with_mailbox();
        let app = Application::build_with_clock(settings, Arc::new(SystemClock))
            .await
            .context("starting heyan")?
            .with_sms(Arc::new(sms));
        let base = format!("http://{}:{}", listen.ip(), app.port());
        let state = app.state().clone();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stop_rx.await;
        }));
        // A name of its own per run, so that runs kept in one database do not collide.
        let client = accounts::add_client(
            state.store.as_ref(),
            &state.keys,
            &format!("{client_name} {}", std::process::id()),
            None,
            state.clock.now(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating the demo client: {e}"))?;
        let api_key = secrecy::ExposeSecret::expose_secret(&client.api_key).to_owned();
        let player = Player::new(base.clone(), api_key, mailbox)?;
        Ok((Self { base, stop, task }, player))
    }

    /// Stops heyan once the requests in flight have finished.
    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("server task")??;
        Ok(())
    }
}

/// Plays both sides over HTTP and prints every exchange.
struct Player {
    http: reqwest::Client,
    base: String,
    api_key: String,
    app_token: Option<String>,
    mailbox: Mailbox,
}

impl Player {
    fn new(base: String, api_key: String, mailbox: Mailbox) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            http,
            base,
            api_key,
            app_token: None,
            mailbox,
        })
    }

    async fn play(
        mut self,
        out_dir: &Path,
        keep: bool,
    ) -> anyhow::Result<(String, String, Vec<PathBuf>)> {
        section("备案系统 The filing system registers the case");
        let mobile = demo_mobile();
        let filing_id = format!("DEMO-{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
        let case = self
            .expect(
                "POST /filing/v1/cases",
                self.filing(Method::POST, "/filing/v1/cases")
                    .json(&registration(&filing_id, &mobile)),
                StatusCode::CREATED,
            )
            .await?;
        let case_id = text(&case, "case_id")?;
        // The App opened from the QR code knows its token, and signs in to that case only.
        let landing = text(&case, "download_page_url")?;
        let download_token = landing.rsplit('/').next().unwrap_or_default().to_owned();

        section("App 手机验证 The App: phone check");
        self.expect(
            "POST /app/v1/sms",
            self.public(Method::POST, "/app/v1/sms")
                .json(&json!({ "mobile": mobile })),
            StatusCode::ACCEPTED,
        )
        .await?;
        let sms_code = self.wait_for_code().await?;
        println!("    (the log provider's SMS code: {sms_code})");
        let session = self
            .expect(
                "POST /app/v1/sessions",
                self.public(Method::POST, "/app/v1/sessions").json(&json!({
                    "mobile": mobile,
                    "code": sms_code,
                    "download_token": download_token,
                })),
                StatusCode::CREATED,
            )
            .await?;
        self.app_token = Some(text(&session, "token")?);

        section("App 同意书 Consent");
        let consent = self
            .expect(
                "GET /app/v1/consent",
                self.app(Method::GET, "/app/v1/consent"),
                StatusCode::OK,
            )
            .await?;
        self.expect(
            "POST /app/v1/consent",
            self.app(Method::POST, "/app/v1/consent").json(&json!({
                "version": consent["version"],
                "text_sha256": consent["text_sha256"],
            })),
            StatusCode::OK,
        )
        .await?;

        section("App 本人核验 Liveness");
        let challenge = self
            .expect(
                "POST /app/v1/liveness/challenge",
                self.app(Method::POST, "/app/v1/liveness/challenge")
                    .json(&json!({
                        "latitude": IN_SHANGHAI.0, "longitude": IN_SHANGHAI.1, "accuracy_m": 30.0,
                    })),
                StatusCode::CREATED,
            )
            .await?;
        let form = liveness_form(&challenge)?;
        let upload_url = text(&challenge, "upload_url")?;
        self.expect(
            &format!("POST {upload_url}"),
            self.app(Method::POST, &upload_url).multipart(form),
            StatusCode::OK,
        )
        .await?;

        section("App 证件核验 ID photos");
        for (kind, bytes) in [("handheld", HANDHELD), ("front", FRONT), ("back", BACK)] {
            let path = format!("/app/v1/photos/{kind}");
            self.expect(
                &format!("PUT {path}"),
                self.app(Method::PUT, &path)
                    .header("content-type", "image/jpeg")
                    .body(bytes.to_vec()),
                StatusCode::OK,
            )
            .await?;
        }
        let mut files = Vec::new();
        for kind in ["liveness", "handheld", "front", "back"] {
            let jpeg = self
                .bytes(self.app(Method::GET, &format!("/app/v1/photos/{kind}")))
                .await?;
            files.push(write(out_dir, &format!("{kind}.jpg"), &jpeg)?);
        }

        section("App 完成 Complete: the image verification code");
        let done = self
            .expect(
                "POST /app/v1/complete",
                self.app(Method::POST, "/app/v1/complete"),
                StatusCode::CREATED,
            )
            .await?;
        let code = text(&done, "code")?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(text(&done, "code_png_base64")?)
            .context("the code PNG is not base64")?;
        files.push(write(out_dir, "code.png", &png)?);

        section("备案系统 The filing system redeems the code, pulls the photos, submits");
        let manifest = self
            .expect(
                &format!("POST /filing/v1/cases/{case_id}/redeem"),
                self.filing(Method::POST, &format!("/filing/v1/cases/{case_id}/redeem"))
                    .json(&json!({ "code": code })),
                StatusCode::OK,
            )
            .await?;
        let photos = manifest["photos"].as_array().cloned().unwrap_or_default();
        for photo in &photos {
            let kind = text(photo, "kind")?;
            let jpeg = self
                .bytes(self.filing(
                    Method::GET,
                    &format!("/filing/v1/cases/{case_id}/photos/{kind}"),
                ))
                .await?;
            println!("    pulled {kind}: {} bytes", jpeg.len());
        }
        if photos.len() != 4 {
            bail!("the manifest lists {} photos, not 4", photos.len());
        }
        self.expect(
            &format!("POST /filing/v1/cases/{case_id}/submit"),
            self.filing(Method::POST, &format!("/filing/v1/cases/{case_id}/submit")),
            StatusCode::OK,
        )
        .await?;

        section("结果 Result");
        println!("  case {case_id} is in review; code {code}");
        for file in &files {
            println!("  wrote {}", file.display());
        }
        if !keep {
            println!("  (the demo database was temporary; run with --keep to review the case)");
        }
        Ok((case_id, code, files))
    }

    /// The code the log provider got; the SMS worker sends it just after the request.
    async fn wait_for_code(&self) -> anyhow::Result<String> {
        for _ in 0..100 {
            if let Some(code) = self.mailbox.latest() {
                return Ok(code);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        anyhow::bail!("the log SMS provider received no code")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn public(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    fn filing(&self, method: Method, path: &str) -> RequestBuilder {
        self.public(method, path).bearer_auth(&self.api_key)
    }

    fn app(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.public(method, path);
        match &self.app_token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends, prints the status and a short form of the answer, and insists on `want`.
    async fn expect(
        &self,
        label: &str,
        request: RequestBuilder,
        want: StatusCode,
    ) -> anyhow::Result<Value> {
        let response = request.send().await.with_context(|| label.to_owned())?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        println!("  {label} → {status}");
        println!("    {}", summary(&body));
        if status != want {
            bail!("{label} answered {status}, expected {want}: {body}");
        }
        Ok(body)
    }

    async fn bytes(&self, request: RequestBuilder) -> anyhow::Result<Vec<u8>> {
        let response: Response = request.send().await?;
        if !response.status().is_success() {
            bail!("{} answered {}", response.url(), response.status());
        }
        Ok(response.bytes().await?.to_vec())
    }
}

/// An invented mobile number, new for each run so that runs kept in one database do not
/// meet the per-phone SMS limits or each other's cases.
fn demo_mobile() -> String {
    use rand::Rng;
    format!("1380013{:04}", rand::thread_rng().gen_range(0..10_000))
}

/// A single-website individual filing in Shanghai, with an invented principal.
fn registration(filing_id: &str, mobile: &str) -> Value {
    json!({
        "filing_id": filing_id,
        "region": "shanghai",
        "subject_type": "individual",
        "subject_name": "测试样本",
        "websites": [{
            "domain": "demo.example.cn",
            "principal": {
                "name": "测试样本",
                "id_type": "resident_id_card",
                "id_number": demo_id_number(),
                "mobile": mobile,
            }
        }]
    })
}

/// An invented resident ID number with a valid check digit (GB 11643), new for each run
/// (the daily limit of checks per ID number would otherwise stop repeated demos).
fn demo_id_number() -> String {
    use rand::Rng;
    let first17 = format!("31010119900307{:03}", rand::thread_rng().gen_range(0..1000));
    let check = crate::domain::resident_id::check_char(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// The frames for each action the challenge asks for.
fn liveness_form(challenge: &Value) -> anyhow::Result<reqwest::multipart::Form> {
    let actions = challenge["actions"]
        .as_array()
        .context("the challenge lists no actions")?;
    let mut form = reqwest::multipart::Form::new();
    for entry in actions {
        let name = text(entry, "action")?;
        let action = LivenessAction::parse(&name).context("an unknown action")?;
        println!("    {} ({})", action.prompt_zh(), action.prompt_en());
        for (i, jpeg) in samples::liveness_frames(action, FRAMES_PER_ACTION)
            .into_iter()
            .enumerate()
        {
            let part = reqwest::multipart::Part::bytes(jpeg)
                .file_name(format!("{name}-{i}.jpg"))
                .mime_str("image/jpeg")?;
            form = form.part(name.clone(), part);
        }
    }
    Ok(form)
}

fn section(title: &str) {
    println!("\n== {title}");
}

/// One line of the answer: the code and message of an error, or the interesting fields.
fn summary(body: &Value) -> String {
    let mut shown = body.clone();
    if let Some(map) = shown.as_object_mut() {
        for long in ["text", "code_png_base64", "token"] {
            if let Some(v) = map.get_mut(long) {
                *v = json!("…");
            }
        }
        map.remove("case");
    }
    let line = shown.to_string();
    match line.char_indices().nth(220) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

fn text(value: &Value, field: &str) -> anyhow::Result<String> {
    value[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("the answer has no `{field}`: {value}"))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
