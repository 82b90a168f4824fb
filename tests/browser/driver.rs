//! A real headless Chromium through chromedriver: finding the two programs (or skipping),
//! chromedriver as a child process that is killed with its browsers on drop, and a
//! WebDriver session whose waits poll with a deadline and fail with the page's state and
//! a screenshot.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;
use fantoccini::error::CmdError;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How long any one wait may take; generous for a slow shared 2-core machine.
pub const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// The installed browser and its driver.
pub struct Tools {
    chromedriver: PathBuf,
    chromium: PathBuf,
}

/// `REQUIRE_BROWSER=1` turns a missing browser into a failure (set in CI), so a broken
/// install cannot silently drop the test.
fn browser_required() -> bool {
    std::env::var("REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// The tools, or `None` after a printed notice when they are missing and not required.
pub fn tools_or_skip() -> Option<Tools> {
    let found =
        find_program(&["chromedriver"]).zip(find_program(&["chromium", "chromium-browser"]));
    if let Some((chromedriver, chromium)) = found {
        return Some(Tools {
            chromedriver,
            chromium,
        });
    }
    assert!(
        !browser_required(),
        "REQUIRE_BROWSER=1 but chromium/chromedriver are not installed \
         (apt-get install chromium chromium-driver)"
    );
    // Past the output capture, so it shows in a plain `cargo test` run.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "NOTE: browser test skipped: chromium/chromedriver not installed \
         (apt-get install chromium chromium-driver); .ci/run installs them and sets REQUIRE_BROWSER=1"
    );
    None
}

/// The first of `names` found as an executable file on `PATH`.
fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where test artefacts go: `browser-artifacts/` in the Cargo target folder.
pub fn artifacts_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| manifest.join(dir))
        .unwrap_or_else(|| manifest.join("target"));
    let dir = target.join("browser-artifacts");
    std::fs::create_dir_all(&dir).expect("create the browser artefacts folder");
    dir
}

/// What the browser looks like.
pub enum Screen {
    /// A 1280×900 window.
    Desktop,
    /// A phone-sized window with a phone's user agent and a fake camera playing `camera`
    /// (a Y4M file); `grant_camera` answers the permission prompt "Allow".
    Phone { camera: PathBuf, grant_camera: bool },
}

/// An Android phone's Chromium.
const PHONE_USER_AGENT: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
                                (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36";

/// A running chromedriver. Dropping it kills its whole process group, so the browsers it
/// started go too, also when the test panics before closing the session.
pub struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    /// Starts chromedriver on a free loopback port and waits until it is ready.
    pub async fn start(tools: &Tools, log: &Path) -> Self {
        let http = reqwest::Client::new();
        // The port is free when asked but could be taken before chromedriver binds it:
        // try a few.
        for _ in 0..3 {
            let port = free_port();
            let child = spawn_chromedriver(&tools.chromedriver, port, log);
            let mut driver = ChromeDriver {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            if driver.wait_ready(&http).await {
                return driver;
            }
        }
        panic!("chromedriver did not become ready; see {}", log.display());
    }

    /// True once `/status` says ready; false when chromedriver exits or the deadline passes.
    async fn wait_ready(&mut self, http: &reqwest::Client) -> bool {
        let started = Instant::now();
        while started.elapsed() < DEADLINE {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let status = http
                .get(format!("{}/status", self.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(response) = status {
                let body: Value = response.json().await.unwrap_or_default();
                if body["value"]["ready"] == true {
                    return true;
                }
            }
            tokio::time::sleep(POLL).await;
        }
        false
    }

    /// Opens a headless Chromium session that records the browser console.
    pub async fn session(&self, tools: &Tools, screen: Screen) -> Page {
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
        ];
        let mut options = serde_json::Map::new();
        match screen {
            Screen::Desktop => args.push("--window-size=1280,900".to_owned()),
            Screen::Phone {
                camera,
                grant_camera,
            } => {
                // A phone: 390 CSS px wide, touch, a phone's user agent.
                options.insert(
                    "mobileEmulation".into(),
                    json!({
                        "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 2, "touch": true },
                        "userAgent": PHONE_USER_AGENT,
                    }),
                );
                args.push("--window-size=390,844".to_owned());
                args.push("--use-fake-device-for-media-stream".to_owned());
                args.push(format!(
                    "--use-file-for-fake-video-capture={}",
                    camera.display()
                ));
                if grant_camera {
                    // Answers the camera prompt "Allow", as a person would; without it
                    // the page gets NotAllowedError.
                    args.push("--use-fake-ui-for-media-stream".to_owned());
                }
            }
        }
        options.insert("binary".into(), json!(tools.chromium));
        options.insert("args".into(), json!(args));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), Value::Object(options));
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("start a Chromium session via chromedriver: {e}"));
        Page {
            client,
            artifacts: artifacts_dir(),
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The child leads its own process group (see spawn_chromedriver); the group is
        // chromedriver and the Chromium processes it launched, nothing else.
        let Ok(pgid) = libc::pid_t::try_from(self.child.id()) else {
            return;
        };
        // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn spawn_chromedriver(program: &Path, port: u16, log: &Path) -> Child {
    use std::os::unix::process::CommandExt;
    Command::new(program)
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()))
}

/// `POST /session/{id}/se/log` with `{"type":"browser"}`: chromedriver's console log
/// (needs `goog:loggingPrefs`). Each call returns the entries since the previous one.
#[derive(Debug)]
struct GetBrowserLog;

impl WebDriverCompatibleCommand for GetBrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (Method, Option<String>) {
        (Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

/// `POST /session/{id}/goog/cdp/execute`: a DevTools protocol command through chromedriver.
#[derive(Debug)]
struct Cdp {
    cmd: String,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (Method::POST, Some(body.to_string()))
    }
}

/// The browser session, with waits that explain themselves when they fail.
pub struct Page {
    client: Client,
    artifacts: PathBuf,
}

impl Page {
    /// Opens a URL.
    pub async fn goto(&self, url: &str) {
        if let Err(e) = self.client.goto(url).await {
            self.fail(&format!("open {url}: {e}")).await;
        }
    }

    /// Runs `script` (a function body: use `return`) and gives its result.
    pub async fn js(&self, script: &str) -> Value {
        match self.client.execute(script, vec![]).await {
            Ok(value) => value,
            Err(e) => self.fail(&format!("run script {script:?}: {e}")).await,
        }
    }

    /// Polls `script` until it returns something other than `null`/`false`, and gives that.
    /// A script error counts as "not yet" (the page may be between states).
    pub async fn poll(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        let mut last_error = None;
        while started.elapsed() < DEADLINE {
            match self.client.execute(script, vec![]).await {
                Ok(Value::Null | Value::Bool(false)) => {}
                Ok(value) => return value,
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(POLL).await;
        }
        let detail = last_error
            .map(|e| format!(" (last error: {e})"))
            .unwrap_or_default();
        self.fail(&format!(
            "timed out after {}s waiting for {what}{detail}",
            DEADLINE.as_secs()
        ))
        .await
    }

    /// Waits until the CSS selector matches.
    pub async fn wait_for(&self, what: &str, css: &str) {
        let script = format!("return document.querySelector({}) !== null", json!(css));
        self.poll(what, &script).await;
    }

    /// Clicks the element `css` matches, retrying while it is missing or re-rendered.
    pub async fn click(&self, css: &str) {
        let started = Instant::now();
        let mut last_error: Option<CmdError> = None;
        while started.elapsed() < DEADLINE {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) => match element.click().await {
                    Ok(()) => return,
                    Err(e) => last_error = Some(e),
                },
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(POLL).await;
        }
        let detail = last_error.map(|e| e.to_string()).unwrap_or_default();
        self.fail(&format!("could not click {css}: {detail}")).await
    }

    /// Types `text` into the element `css` matches.
    pub async fn type_into(&self, css: &str, text: &str) {
        let typed = match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.send_keys(text).await,
            Err(e) => Err(e),
        };
        if let Err(e) = typed {
            self.fail(&format!("could not type into {css}: {e}")).await;
        }
    }

    /// Chooses the file at `path` in the file input `css`, as a person picking a photo.
    pub async fn choose_file(&self, css: &str, path: &Path) {
        self.type_into(css, &path.display().to_string()).await;
    }

    /// Runs a DevTools protocol command (chromedriver forwards it) and gives its result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let command = Cdp {
            cmd: cmd.to_owned(),
            params,
        };
        match self.client.issue_cmd(command).await {
            Ok(value) => value,
            Err(e) => self.fail(&format!("DevTools command {cmd}: {e}")).await,
        }
    }

    /// A PNG of the viewport, saved as `name` in the artefacts folder.
    pub async fn screenshot(&self, name: &str) -> (PathBuf, Vec<u8>) {
        let png = match self.client.screenshot().await {
            Ok(png) => png,
            Err(e) => self.fail(&format!("take a screenshot: {e}")).await,
        };
        let path = self.artifacts.join(name);
        std::fs::write(&path, &png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        (path, png)
    }

    /// The browser console entries (`level`, `message`, …) since the last call.
    pub async fn console_log(&self) -> Vec<Value> {
        match self.client.issue_cmd(GetBrowserLog).await {
            Ok(Value::Array(entries)) => entries,
            Ok(other) => panic!("unexpected browser log answer: {other}"),
            Err(e) => panic!("read the browser console log: {e}"),
        }
    }

    /// Ends the browser session.
    pub async fn close(self) {
        if let Err(e) = self.client.close().await {
            eprintln!("closing the browser session: {e}");
        }
    }

    /// Panics with `what`, the console's view, hash, messages and console log, after
    /// saving a screenshot of the page as it is.
    pub async fn fail(&self, what: &str) -> ! {
        let state = self
            .client
            .execute(
                "const text = (id) => { const n = document.getElementById(id); \
                   return n && !n.hidden ? n.textContent.trim() : null; }; \
                 return { view: document.body ? document.body.dataset.view : null, \
                   hash: location.hash, flash: text('flash'), login_error: text('login-error'), \
                   decision_error: text('decision-error'), error: text('error'), \
                   status: text('status') };",
                vec![],
            )
            .await
            .map(|v| v.to_string())
            .unwrap_or_else(|e| format!("(page state unavailable: {e})"));
        let shot = match self.client.screenshot().await {
            Ok(png) => {
                let path = self.artifacts.join("failure.png");
                match std::fs::write(&path, png) {
                    Ok(()) => path.display().to_string(),
                    Err(e) => format!("(not saved: {e})"),
                }
            }
            Err(e) => format!("(none: {e})"),
        };
        let log = self
            .client
            .issue_cmd(GetBrowserLog)
            .await
            .map(|v| v.to_string())
            .unwrap_or_else(|e| format!("(unavailable: {e})"));
        panic!("{what}\n  page: {state}\n  screenshot: {shot}\n  console: {log}");
    }
}
