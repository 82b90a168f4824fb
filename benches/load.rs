//! Load figures for docs/performance.md: real `heyan serve` processes on loopback, driven
//! by a closed-loop load generator in this process.
//!
//!     cargo bench --bench load                        # SQLite, one instance
//!     BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!         cargo bench --bench load                    # and PostgreSQL, one and two instances
//!     cargo bench --bench load -- --quick             # shorter windows, fewer flows
//!
//! It prints, per set-up:
//! - throughput and p50/p99 latency of light endpoints (`/healthz`, case status, the
//!   status lookup by filing id) against a bare axum handler in its own process, measured
//!   in the same run, as ratios;
//! - whole App flows per minute with 12-megapixel phone photos, and the server's CPU
//!   seconds per completed case (from /proc);
//! - the server's peak RSS while 8 uploads of 12 MP photos run at once;
//! - p50/p99 of the light endpoints while uploads keep both cores busy, against idle.
//!
//! The load generator shares the machine's cores with the servers, as the bare handler's
//! does; the ratios are what carries over to other machines. With two instances the
//! generator alternates between them, as a load balancer would. Linux only (/proc).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use heyan::domain::liveness::LivenessAction;
use heyan::imaging::pipeline::testdata::phone_jpeg;
use heyan::imaging::samples;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const HANDHELD: &[u8] = include_bytes!("../assets/samples/handheld-sample.jpg");
const FRONT: &[u8] = include_bytes!("../assets/samples/id-front-sample.jpg");
const BACK: &[u8] = include_bytes!("../assets/samples/id-back-sample.jpg");
const GATEWAY_SECRET: &str = "bench-gateway";
/// Concurrent connections of the light-endpoint load.
const LIGHT_CONCURRENCY: usize = 16;
/// Concurrent connections measuring light endpoints under upload load (a few clients
/// polling, as filing systems and load balancers do).
const PROBE_CONCURRENCY: usize = 4;
/// Uploads at once for the peak-RSS and saturation figures.
const UPLOADERS: usize = 8;

struct Plan {
    window: Duration,
    flows: usize,
    flow_concurrency: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--bare-server") {
        bare_server(args[i + 1].parse().expect("port"));
        return;
    }
    // `cargo test --benches` runs this binary without --bench: nothing to measure there.
    if !args.iter().any(|a| a == "--bench") {
        println!("load benchmark: run with `cargo bench --bench load`");
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let plan = Plan {
        window: Duration::from_secs(if quick { 2 } else { 5 }),
        flows: if quick { 4 } else { 12 },
        flow_concurrency: 4,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(plan));
}

async fn run(plan: Plan) {
    machine_summary();
    let photos = Arc::new(Photos::make());
    println!(
        "12 MP inputs: handheld {:.1} MB, front {:.1} MB, back {:.1} MB\n",
        mb(photos.handheld.len()),
        mb(photos.front.len()),
        mb(photos.back.len())
    );
    let bare = BareServer::start().await;
    let postgres = std::env::var("BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("TEST_POSTGRES_URL"))
        .ok();
    let mut setups = vec![Setup::Sqlite];
    match &postgres {
        Some(url) => {
            setups.push(Setup::Postgres(url.clone(), 1));
            setups.push(Setup::Postgres(url.clone(), 2));
        }
        None => {
            println!("(no BENCH_POSTGRES_URL or TEST_POSTGRES_URL: PostgreSQL set-ups skipped)\n")
        }
    }
    for setup in setups {
        println!("## {}\n", setup.name());
        let cluster = Cluster::start(&setup).await;
        light_figures(&cluster, &bare, &plan).await;
        flow_figures(&cluster, &photos, &plan).await;
        upload_figures(&cluster, &photos, &plan).await;
        cluster.stop().await;
        println!();
    }
}

fn machine_summary() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("machine: {cpu}, {cores} cores available");
    println!("heyan: {}", env!("CARGO_BIN_EXE_heyan"));
}

// ---------------------------------------------------------------------------------------
// Servers

/// A bare axum handler answering "ok", in a process of its own like heyan's.
fn bare_server(port: u16) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        axum::serve(listener, app).await.expect("serve");
    });
}

struct BareServer {
    child: Child,
    url: String,
}

impl BareServer {
    async fn start() -> Self {
        let port = free_port();
        let child = Command::new(std::env::current_exe().expect("own path"))
            .args(["--bare-server", &port.to_string()])
            .spawn()
            .expect("bare server");
        let url = format!("http://127.0.0.1:{port}/");
        wait_for(&url).await;
        Self { child, url }
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Setup {
    Sqlite,
    Postgres(String, usize),
}

impl Setup {
    fn name(&self) -> String {
        match self {
            Setup::Sqlite => "SQLite, one instance".into(),
            Setup::Postgres(_, 1) => "PostgreSQL, one instance".into(),
            Setup::Postgres(_, n) => format!("PostgreSQL, {n} instances"),
        }
    }
}

/// heyan instances sharing one database and one photo folder.
struct Cluster {
    instances: Vec<Instance>,
    api: Arc<Api>,
    _dir: tempfile::TempDir,
    drop_database: Option<(String, String)>,
}

/// How the load reaches a cluster: its instances' addresses, a filing client's key, and
/// the SMS gateway's inbox.
struct Api {
    bases: Vec<String>,
    api_key: String,
    codes: Arc<Mutex<HashMap<String, String>>>,
    http: Client,
}

impl Api {
    /// The instance the n-th request goes to (round robin).
    fn base(&self, n: usize) -> &str {
        &self.bases[n % self.bases.len()]
    }
}

struct Instance {
    child: Child,
    base: String,
}

impl Cluster {
    async fn start(setup: &Setup) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (codes, sms_url) = sms_gateway().await;
        let mut env: Vec<(String, String)> = vec![
            ("HEYAN_DATA_DIR".into(), dir.path().display().to_string()),
            ("HEYAN_SECRETS__MASTER_SECRET".into(), "cd".repeat(32)),
            ("HEYAN_SMS__PROVIDER".into(), "http".into()),
            ("HEYAN_SMS__HTTP_URL".into(), sms_url),
            ("HEYAN_SMS__HTTP_SECRET".into(), GATEWAY_SECRET.into()),
            // Every request comes from 127.0.0.1: lift the per-address limits.
            ("HEYAN_APP__SMS_PER_IP_PER_HOUR".into(), "1000000".into()),
            ("HEYAN_APP__SMS_RESEND_SECS".into(), "1".into()),
            // One filing client sends all the load: lift its per-minute limit, so that the
            // figures are of the endpoints (the limit's counter is still kept and checked).
            (
                "HEYAN_FILING__REQUESTS_PER_MINUTE".into(),
                "100000000".into(),
            ),
            ("RUST_LOG".into(), "warn".into()),
        ];
        let (count, drop_database) = match setup {
            Setup::Sqlite => (1, None),
            Setup::Postgres(url, n) => {
                let (db_url, name) = fresh_postgres_database(url).await;
                env.push(("HEYAN_DATABASE__URL".into(), db_url));
                (*n, Some((url.clone(), name)))
            }
        };
        let added = Command::new(env!("CARGO_BIN_EXE_heyan"))
            .args(["client", "add", "--name", "bench"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("heyan client add");
        assert!(added.status.success(), "client add: {added:?}");
        let printed = String::from_utf8_lossy(&added.stdout).into_owned();
        let api_key = printed
            .lines()
            .find_map(|l| l.strip_prefix("api_key: "))
            .expect("api_key printed")
            .to_owned();
        let mut instances = Vec::new();
        for _ in 0..count {
            instances.push(Instance::start(dir.path(), &env).await);
        }
        let http = Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(64)
            .build()
            .expect("client");
        let api = Arc::new(Api {
            bases: instances.iter().map(|i| i.base.clone()).collect(),
            api_key,
            codes,
            http,
        });
        Self {
            instances,
            api,
            _dir: dir,
            drop_database,
        }
    }

    /// CPU seconds all instances have used so far.
    fn cpu_seconds(&self) -> f64 {
        self.instances
            .iter()
            .map(|i| cpu_seconds(i.child.id()))
            .sum()
    }

    /// The highest RSS high-water mark of the instances, in MB.
    fn peak_rss_mb(&self) -> f64 {
        self.instances
            .iter()
            .map(|i| status_kb(i.child.id(), "VmHWM:") as f64 / 1024.0)
            .fold(0.0, f64::max)
    }

    fn rss_mb(&self) -> f64 {
        self.instances
            .iter()
            .map(|i| status_kb(i.child.id(), "VmRSS:") as f64 / 1024.0)
            .fold(0.0, f64::max)
    }

    async fn stop(mut self) {
        for instance in &mut self.instances {
            let _ = Command::new("kill")
                .args(["-TERM", &instance.child.id().to_string()])
                .status();
            let _ = instance.child.wait();
        }
        if let Some((admin_url, name)) = self.drop_database.take() {
            drop_postgres_database(&admin_url, &name).await;
        }
    }
}

impl Instance {
    async fn start(dir: &Path, env: &[(String, String)]) -> Self {
        let listen = format!("127.0.0.1:{}", free_port());
        let admin = format!("127.0.0.1:{}", free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_heyan"))
            .arg("serve")
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("HEYAN_SERVER__LISTEN", &listen)
            .env("HEYAN_SERVER__ADMIN_LISTEN", &admin)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("heyan serve");
        let base = format!("http://{listen}");
        wait_for(&format!("{base}/readyz")).await;
        Self { child, base }
    }
}

/// A local stand-in for the SMS gateway: keeps the last code sent to each number.
async fn sms_gateway() -> (Arc<Mutex<HashMap<String, String>>>, String) {
    let codes: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let store = codes.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let store = store.clone();
            async move {
                if let (Some(to), Some(code)) = (body["to"].as_str(), body["code"].as_str()) {
                    store
                        .lock()
                        .expect("lock")
                        .insert(to.to_owned(), code.to_owned());
                }
                axum::Json(json!({ "ok": true }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (codes, url)
}

async fn fresh_postgres_database(admin_url: &str) -> (String, String) {
    use sqlx::Connection;
    let name = format!("heyan_bench_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("PostgreSQL reachable");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await
        .expect("drop");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create");
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    (format!("{base}/{name}"), name)
}

async fn drop_postgres_database(admin_url: &str, name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin_url).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

// ---------------------------------------------------------------------------------------
// Light endpoints

/// Makes the n-th request of a load: its URL and the bearer token, if any.
type UrlFn = Arc<dyn Fn(usize) -> (String, Option<String>) + Send + Sync>;

struct Latencies {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    sorted: Vec<Duration>,
}

impl Latencies {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn quantile(&self, q: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.sorted.len() as f64 * q).ceil() as usize).clamp(1, self.sorted.len());
        self.sorted[i - 1]
    }
}

/// `concurrency` clients, each sending its next request when the last one is answered,
/// for `window`; `url(n)` names the n-th request.
async fn closed_loop(http: &Client, concurrency: usize, window: Duration, url: UrlFn) -> Latencies {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut errors = 0;
            let mut n = worker;
            while start.elapsed() < window {
                let (target, bearer) = url(n);
                let mut request = http.get(&target);
                if let Some(key) = &bearer {
                    request = request.bearer_auth(key);
                }
                let sent = Instant::now();
                match request.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        times.push(sent.elapsed());
                    }
                    _ => errors += 1,
                }
                n += concurrency;
            }
            (times, errors)
        }));
    }
    let mut sorted = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (times, e) = task.await.expect("load task");
        sorted.extend(times);
        errors += e;
    }
    let elapsed = start.elapsed();
    sorted.sort();
    Latencies {
        requests: sorted.len(),
        errors,
        elapsed,
        sorted,
    }
}

/// Registers `n` cases, each with a new principal; gives (case id, filing id, mobile).
async fn register_cases(api: &Api, n: usize, tag: &str) -> Vec<(String, String, String)> {
    let mut cases = Vec::new();
    for i in 0..n {
        let filing_id = format!("BENCH-{tag}-{i}-{}", std::process::id());
        let mobile = format!("139{:08}", rand::random::<u32>() % 100_000_000);
        let body = registration(&filing_id, &mobile);
        let case = expect_json(
            api.http
                .post(format!("{}/filing/v1/cases", api.base(i)))
                .bearer_auth(&api.api_key)
                .json(&body),
            StatusCode::CREATED,
        )
        .await;
        cases.push((
            case["case_id"].as_str().expect("case_id").to_owned(),
            filing_id,
            mobile,
        ));
    }
    cases
}

fn registration(filing_id: &str, mobile: &str) -> Value {
    let first17 = format!("31010119900307{:03}", rand::random::<u16>() % 1000);
    let check = heyan::domain::resident_id::check_char(&first17).expect("digits");
    json!({
        "filing_id": filing_id, "region": "shanghai", "subject_type": "individual",
        "subject_name": "测试样本",
        "websites": [{ "domain": "bench.example.cn", "principal": {
            "name": "测试样本", "id_type": "resident_id_card",
            "id_number": format!("{first17}{check}"), "mobile": mobile } }],
    })
}

/// The light endpoints, each as a request maker: the n-th request goes to instance n
/// (round robin) about case n.
fn light_endpoints(api: &Api, cases: &[(String, String, String)]) -> Vec<(&'static str, UrlFn)> {
    let ids: Arc<Vec<(String, String)>> = Arc::new(
        cases
            .iter()
            .map(|(case, filing, _)| (case.clone(), filing.clone()))
            .collect(),
    );
    let maker = |path: fn(&(String, String)) -> String, bearer: bool| -> UrlFn {
        let (bases, ids) = (api.bases.clone(), ids.clone());
        let key = bearer.then(|| api.api_key.clone());
        Arc::new(move |n| {
            let path = path(&ids[n % ids.len()]);
            (format!("{}{path}", bases[n % bases.len()]), key.clone())
        })
    };
    vec![
        ("GET /healthz", maker(|_| "/healthz".into(), false)),
        (
            "GET /filing/v1/cases/{id}",
            maker(|(case, _)| format!("/filing/v1/cases/{case}"), true),
        ),
        (
            "GET /filing/v1/filings/{filing_id}",
            maker(|(_, filing)| format!("/filing/v1/filings/{filing}"), true),
        ),
    ]
}

/// Half a second of the same load to warm connection pools and caches, then the
/// measured window.
async fn warm_then_measure(http: &Client, window: Duration, url: UrlFn) -> Latencies {
    closed_loop(
        http,
        LIGHT_CONCURRENCY,
        Duration::from_millis(500),
        url.clone(),
    )
    .await;
    closed_loop(http, LIGHT_CONCURRENCY, window, url).await
}

async fn light_figures(cluster: &Cluster, bare: &BareServer, plan: &Plan) {
    let cases = register_cases(&cluster.api, 50, "light").await;
    let bare_url = bare.url.clone();
    let bare_fn: UrlFn = Arc::new(move |_| (bare_url.clone(), None));
    println!(
        "Light endpoints, {LIGHT_CONCURRENCY} connections, {} s each (bare = an axum handler answering \"ok\"):\n",
        plan.window.as_secs()
    );
    println!(
        "| endpoint | req/s | p50 ms | p99 ms | errors | req/s ÷ bare | p50 ÷ bare | p99 ÷ bare |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let baseline = warm_then_measure(&cluster.api.http, plan.window, bare_fn).await;
    print_row("bare axum handler", &baseline, None);
    for (name, url) in light_endpoints(&cluster.api, &cases) {
        let got = warm_then_measure(&cluster.api.http, plan.window, url).await;
        print_row(name, &got, Some(&baseline));
    }
    println!();
}

fn print_row(name: &str, got: &Latencies, baseline: Option<&Latencies>) {
    let (p50, p99) = (got.quantile(0.5), got.quantile(0.99));
    let ratios = match baseline {
        Some(b) => format!(
            "{:.2} | {:.2} | {:.2}",
            got.rps() / b.rps(),
            p50.as_secs_f64() / b.quantile(0.5).as_secs_f64(),
            p99.as_secs_f64() / b.quantile(0.99).as_secs_f64()
        ),
        None => "1 | 1 | 1".into(),
    };
    println!(
        "| {name} | {:.0} | {:.2} | {:.2} | {} | {ratios} |",
        got.rps(),
        ms(p50),
        ms(p99),
        got.errors
    );
}

// ---------------------------------------------------------------------------------------
// App flows and uploads

struct Photos {
    handheld: Vec<u8>,
    front: Vec<u8>,
    back: Vec<u8>,
}

impl Photos {
    /// The project's drawn samples as 4032×3024 phone JPEGs (q92, sensor noise).
    fn make() -> Self {
        Self {
            handheld: phone_jpeg(HANDHELD, 3024, 4032, 92, 3.0, 1),
            front: phone_jpeg(FRONT, 4032, 3024, 92, 3.0, 1),
            back: phone_jpeg(BACK, 4032, 3024, 92, 3.0, 1),
        }
    }

    fn of(&self, kind: &str) -> &[u8] {
        match kind {
            "handheld" => &self.handheld,
            "front" => &self.front,
            _ => &self.back,
        }
    }
}

const KINDS: [&str; 3] = ["handheld", "front", "back"];

/// A signed-in App session on one case, liveness done: ready for photos.
struct Session {
    token: String,
    case_id: String,
}

/// Runs the App's steps up to the photos: SMS, session, consent, liveness.
async fn session_ready_for_photos(api: &Api, n: usize, tag: &str) -> Session {
    let (case_id, _, mobile) = register_cases(api, 1, &format!("{tag}{n}")).await.remove(0);
    let http = &api.http;
    let case: Value = expect_json(
        http.get(format!("{}/filing/v1/cases/{case_id}", api.base(n)))
            .bearer_auth(&api.api_key),
        StatusCode::OK,
    )
    .await;
    let token = case["download_page_url"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .expect("download token")
        .to_owned();
    expect_json(
        http.post(format!("{}/app/v1/sms", api.base(n)))
            .json(&json!({ "mobile": mobile, "download_token": token })),
        StatusCode::ACCEPTED,
    )
    .await;
    let code = wait_for_code(api, &mobile).await;
    let session = expect_json(
        http.post(format!("{}/app/v1/sessions", api.base(n + 1)))
            .json(&json!({ "mobile": mobile, "code": code, "download_token": token })),
        StatusCode::CREATED,
    )
    .await;
    let bearer = session["token"].as_str().expect("token").to_owned();
    let app = |i: usize, method: reqwest::Method, path: &str| {
        http.request(method, format!("{}{path}", api.base(n + i)))
            .bearer_auth(&bearer)
    };
    let consent = expect_json(
        app(0, reqwest::Method::GET, "/app/v1/consent"),
        StatusCode::OK,
    )
    .await;
    expect_json(
        app(1, reqwest::Method::POST, "/app/v1/consent")
            .json(&json!({ "version": consent["version"], "text_sha256": consent["text_sha256"] })),
        StatusCode::OK,
    )
    .await;
    let challenge = expect_json(
        app(0, reqwest::Method::POST, "/app/v1/liveness/challenge")
            .json(&json!({ "latitude": 31.2304, "longitude": 121.4737, "accuracy_m": 30 })),
        StatusCode::CREATED,
    )
    .await;
    let upload = challenge["upload_url"].as_str().expect("upload_url");
    expect_json(
        app(1, reqwest::Method::POST, upload).multipart(liveness_form(&challenge)),
        StatusCode::OK,
    )
    .await;
    Session {
        token: bearer,
        case_id,
    }
}

fn liveness_form(challenge: &Value) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for entry in challenge["actions"].as_array().expect("actions") {
        let name = entry["action"].as_str().expect("action");
        let action = LivenessAction::parse(name).expect("known action");
        for (i, jpeg) in samples::liveness_frames(action, 4).into_iter().enumerate() {
            let part = reqwest::multipart::Part::bytes(jpeg)
                .file_name(format!("{name}-{i}.jpg"))
                .mime_str("image/jpeg")
                .expect("mime");
            form = form.part(name.to_owned(), part);
        }
    }
    form
}

async fn wait_for_code(api: &Api, mobile: &str) -> String {
    for _ in 0..400 {
        if let Some(code) = api.codes.lock().expect("lock").remove(mobile) {
            return code;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no SMS code for {mobile}");
}

/// Uploads one photo; retries while the photo gate is full (429 `photo_busy`, or 503),
/// which costs no attempt. Gives the number of busy answers.
async fn upload(api: &Api, n: usize, session: &Session, kind: &str, photos: &Photos) -> usize {
    let mut busy = 0;
    loop {
        let response = api
            .http
            .put(format!("{}/app/v1/photos/{kind}", api.base(n + busy)))
            .bearer_auth(&session.token)
            .header("content-type", "image/jpeg")
            .body(photos.of(kind).to_vec())
            .send()
            .await
            .expect("upload sent");
        match response.status() {
            StatusCode::OK => return busy,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!(
                "upload {kind} of case {}: {other}: {}",
                session.case_id,
                response.text().await.unwrap_or_default()
            ),
        }
    }
}

/// One whole flow: App steps, three 12 MP photos, complete; then the filing system
/// redeems the code and pulls the four photos.
async fn whole_flow(api: Arc<Api>, photos: Arc<Photos>, n: usize) -> usize {
    let session = session_ready_for_photos(&api, n, "flow").await;
    let mut busy = 0;
    for (i, kind) in KINDS.iter().enumerate() {
        busy += upload(&api, n + i, &session, kind, &photos).await;
    }
    let done = expect_json(
        api.http
            .post(format!("{}/app/v1/complete", api.base(n)))
            .bearer_auth(&session.token),
        StatusCode::CREATED,
    )
    .await;
    let code = done["code"].as_str().expect("code");
    let case = &session.case_id;
    expect_json(
        api.http
            .post(format!("{}/filing/v1/cases/{case}/redeem", api.base(n + 1)))
            .bearer_auth(&api.api_key)
            .json(&json!({ "code": code })),
        StatusCode::OK,
    )
    .await;
    for kind in ["liveness", "handheld", "front", "back"] {
        let response = api
            .http
            .get(format!(
                "{}/filing/v1/cases/{case}/photos/{kind}",
                api.base(n)
            ))
            .bearer_auth(&api.api_key)
            .send()
            .await
            .expect("pull");
        assert_eq!(response.status(), StatusCode::OK, "pull {kind}");
        let _ = response.bytes().await;
    }
    busy
}

async fn flow_figures(cluster: &Cluster, photos: &Arc<Photos>, plan: &Plan) {
    let shared = cluster.api.clone();
    let cpu_before = cluster.cpu_seconds();
    let started = Instant::now();
    let mut busy = 0;
    let mut next = 0;
    while next < plan.flows {
        let batch: Vec<_> = (next..(next + plan.flow_concurrency).min(plan.flows))
            .map(|n| tokio::spawn(whole_flow(shared.clone(), photos.clone(), n)))
            .collect();
        next += batch.len();
        for task in batch {
            busy += task.await.expect("flow");
        }
    }
    let elapsed = started.elapsed();
    let cpu = cluster.cpu_seconds() - cpu_before;
    println!(
        "Whole App flows with 12 MP photos ({} flows, {} at a time, each: SMS, session, consent, liveness (12 frames), 3 photos, complete, redeem, 4 pulls):\n",
        plan.flows, plan.flow_concurrency
    );
    println!("| flows/min | s per flow (wall, {} at a time) | server CPU s per completed case | busy answers retried |", plan.flow_concurrency);
    println!("|---|---|---|---|");
    println!(
        "| {:.1} | {:.2} | {:.2} | {busy} |\n",
        plan.flows as f64 / elapsed.as_secs_f64() * 60.0,
        elapsed.as_secs_f64() / plan.flows as f64 * plan.flow_concurrency as f64,
        cpu / plan.flows as f64
    );
}

async fn upload_figures(cluster: &Cluster, photos: &Arc<Photos>, plan: &Plan) {
    let shared = cluster.api.clone();
    let mut sessions = Vec::new();
    for n in 0..UPLOADERS {
        sessions.push(Arc::new(
            session_ready_for_photos(&cluster.api, n, "up").await,
        ));
    }
    let cases = register_cases(&cluster.api, 20, "probe").await;
    let probes = light_endpoints(&cluster.api, &cases);
    let probe = |i: usize| probes[i].1.clone();

    // Idle first.
    let idle_health =
        closed_loop(&cluster.api.http, PROBE_CONCURRENCY, plan.window, probe(0)).await;
    let idle_status =
        closed_loop(&cluster.api.http, PROBE_CONCURRENCY, plan.window, probe(1)).await;

    // 8 uploads at once, over and over (each case takes 10 uploads of each kind).
    let rss_before = cluster.rss_mb();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let uploaded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut uploaders = Vec::new();
    for (n, session) in sessions.iter().enumerate() {
        let (cluster, photos, session) = (shared.clone(), photos.clone(), session.clone());
        let (stop, uploaded) = (stop.clone(), uploaded.clone());
        uploaders.push(tokio::spawn(async move {
            let mut busy = 0;
            for i in 0..30 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                busy += upload(&cluster, n + i, &session, KINDS[i % 3], &photos).await;
                uploaded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            busy
        }));
    }
    // Let the uploads fill both cores before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu_before = cluster.cpu_seconds();
    let measured = Instant::now();
    let loaded_health =
        closed_loop(&cluster.api.http, PROBE_CONCURRENCY, plan.window, probe(0)).await;
    let loaded_status =
        closed_loop(&cluster.api.http, PROBE_CONCURRENCY, plan.window, probe(1)).await;
    let cores_busy = (cluster.cpu_seconds() - cpu_before) / measured.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut busy = 0;
    for task in uploaders {
        busy += task.await.expect("uploader");
    }
    let peak = cluster.peak_rss_mb();
    println!(
        "{UPLOADERS} concurrent 12 MP uploads: {} photos stored, {busy} busy answers retried; server cores busy while measuring: {cores_busy:.2}; RSS before {rss_before:.0} MB, peak {peak:.0} MB\n",
        uploaded.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!("Light endpoints, {PROBE_CONCURRENCY} connections, idle and under the uploads:\n");
    println!(
        "| endpoint | idle p50 ms | idle p99 ms | loaded p50 ms | loaded p99 ms | loaded req/s |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, idle, loaded) in [
        (probes[0].0, &idle_health, &loaded_health),
        (probes[1].0, &idle_status, &loaded_status),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} |",
            ms(idle.quantile(0.5)),
            ms(idle.quantile(0.99)),
            ms(loaded.quantile(0.5)),
            ms(loaded.quantile(0.99)),
            loaded.rps()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

async fn expect_json(request: reqwest::RequestBuilder, want: StatusCode) -> Value {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, want, "{body}");
    body
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn wait_for(url: &str) {
    let http = Client::new();
    for _ in 0..600 {
        if let Ok(r) = http.get(url).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not come up");
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / per_second
}

fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1048576.0
}
