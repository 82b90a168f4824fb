//! Two real `heyan serve` processes on one PostgreSQL database and one S3 bucket, as
//! behind a load balancer: the App's steps alternate between them, one is killed
//! mid-flow and the other finishes, 32 concurrent redemptions split across both give
//! exactly one success, photos stored through either are served by both, and the
//! filing system hears `case.completed` once. Needs PostgreSQL and `s3s-fs` (skipped
//! with a notice without them; both required in CI).

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

use crate::receiver::{self, Receiver};
use crate::s3::{self, S3Server};
use crate::support::TestDb;
use crate::{free_port, heyan, run, stdout, terminate, wait_until_up};

const MOBILE: &str = "13812345678";
const GATEWAY_SECRET: &str = "gateway-secret";

/// What every instance shares: the database, the bucket, the master secret, the SMS
/// gateway; fast webhook polling.
fn shared_env(db: &TestDb, bucket: &S3Server, sms: &Receiver) -> Vec<(String, String)> {
    [
        ("HEYAN_DATABASE__URL", db.url().to_owned()),
        ("HEYAN_SECRETS__MASTER_SECRET", "ab".repeat(32)),
        ("HEYAN_BLOB__BACKEND", "s3".into()),
        ("HEYAN_BLOB__S3_ENDPOINT", bucket.endpoint.clone()),
        ("HEYAN_BLOB__S3_BUCKET", s3::BUCKET.into()),
        ("HEYAN_BLOB__S3_PREFIX", "heyan/".into()),
        ("HEYAN_BLOB__S3_ACCESS_KEY_ID", s3::ACCESS_KEY.into()),
        ("HEYAN_BLOB__S3_SECRET_ACCESS_KEY", s3::SECRET_KEY.into()),
        ("HEYAN_SMS__PROVIDER", "http".into()),
        ("HEYAN_SMS__HTTP_URL", sms.url.clone()),
        ("HEYAN_SMS__HTTP_SECRET", GATEWAY_SECRET.into()),
        ("HEYAN_WEBHOOK__POLL_MS", "50".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn as_vars(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// One `heyan serve` on its own ports.
struct Instance {
    child: Child,
    base: String,
}

async fn serve(dir: &Path, env: &[(String, String)]) -> Instance {
    let listen = format!("127.0.0.1:{}", free_port());
    let admin = format!("127.0.0.1:{}", free_port());
    let mut vars = as_vars(env);
    vars.push(("HEYAN_SERVER__LISTEN", &listen));
    vars.push(("HEYAN_SERVER__ADMIN_LISTEN", &admin));
    let mut child = heyan(dir, &["serve"], &vars)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn heyan serve");
    let base = format!("http://{listen}");
    wait_until_up(&format!("{base}/readyz"), &mut child).await;
    Instance { child, base }
}

/// A call that must answer `want`; gives the JSON body.
async fn expect(request: reqwest::RequestBuilder, want: StatusCode, what: &str) -> Value {
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, want, "{what}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_database_and_one_bucket() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let Some(program) = s3::server_or_skip() else {
        return;
    };
    let bucket = S3Server::start(&program).await;
    let sms = receiver::start(0).await;
    *sms.inbox.secret.lock().expect("lock") = GATEWAY_SECRET.into();
    let hooks = receiver::start(0).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let env = shared_env(&db, &bucket, &sms);

    let added = run(
        dir.path(),
        &[
            "client",
            "add",
            "--name",
            "示例云",
            "--webhook-url",
            &hooks.url,
        ],
        &as_vars(&env),
    );
    assert!(added.status.success(), "client add");
    let printed = stdout(&added);
    let field = |name: &str| {
        printed
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {printed}"))
            .to_owned()
    };
    let api_key = field("api_key");
    *hooks.inbox.secret.lock().expect("lock") = field("webhook_secret");

    let mut a = serve(dir.path(), &env).await;
    let b = serve(dir.path(), &env).await;
    let http = Client::new();
    let filing = |base: &str, method: Method, path: &str| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(&api_key)
    };

    // The filing system registers on A.
    let registration = json!({
        "filing_id": "TWO-1", "region": "shanghai", "subject_type": "individual",
        "subject_name": "张三",
        "websites": [{ "domain": "site0.example.cn", "principal": {
            "name": "张三", "id_type": "resident_id_card",
            "id_number": "11010519491231002X", "mobile": MOBILE } }],
    });
    let case = expect(
        filing(&a.base, Method::POST, "/filing/v1/cases").json(&registration),
        StatusCode::CREATED,
        "register on A",
    )
    .await;
    let case_id = case["case_id"].as_str().expect("case_id").to_owned();
    let landing = case["download_page_url"].as_str().expect("landing");
    let token = landing.rsplit('/').next().expect("token").to_owned();

    // SMS on A, session on B.
    let sms_body = json!({ "mobile": MOBILE, "download_token": token });
    expect(
        http.post(format!("{}/app/v1/sms", a.base)).json(&sms_body),
        StatusCode::ACCEPTED,
        "SMS on A",
    )
    .await;
    sms.inbox
        .wait_for("the SMS code", |i| {
            !i.accepted.lock().expect("lock").is_empty()
        })
        .await;
    let code = sms.inbox.accepted.lock().expect("lock")[0]["code"]
        .as_str()
        .expect("code")
        .to_owned();
    let session = expect(
        http.post(format!("{}/app/v1/sessions", b.base))
            .json(&json!({ "mobile": MOBILE, "code": code, "download_token": token })),
        StatusCode::CREATED,
        "session on B",
    )
    .await;
    let bearer = session["token"].as_str().expect("token").to_owned();
    let app = |base: &str, method: Method, path: &str| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(&bearer)
    };

    // Consent read on B, accepted on A; the challenge on B, its frames on A.
    let consent = expect(
        app(&b.base, Method::GET, "/app/v1/consent"),
        StatusCode::OK,
        "consent",
    )
    .await;
    let accept = json!({ "version": consent["version"], "text_sha256": consent["text_sha256"] });
    expect(
        app(&a.base, Method::POST, "/app/v1/consent").json(&accept),
        StatusCode::OK,
        "accept on A",
    )
    .await;
    let challenge = expect(
        app(&b.base, Method::POST, "/app/v1/liveness/challenge")
            .json(&json!({ "latitude": 31.2304, "longitude": 121.4737, "accuracy_m": 30 })),
        StatusCode::CREATED,
        "challenge on B",
    )
    .await;
    let upload = challenge["upload_url"].as_str().expect("upload_url");
    expect(
        app(&a.base, Method::POST, upload).multipart(liveness_form(&challenge)),
        StatusCode::OK,
        "frames on A",
    )
    .await;

    // The handheld photo through A; then A dies and B finishes.
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples");
    let photo = |name: &str| std::fs::read(samples.join(name)).expect("sample photo");
    expect(
        app(&a.base, Method::PUT, "/app/v1/photos/handheld")
            .header("content-type", "image/jpeg")
            .body(photo("handheld-sample.jpg")),
        StatusCode::OK,
        "handheld on A",
    )
    .await;
    a.child.kill().expect("kill A");
    a.child.wait().expect("A gone");
    let stamped = http
        .get(format!("{}/app/v1/photos/handheld", b.base))
        .bearer_auth(&bearer)
        .send()
        .await
        .expect("sent");
    assert_eq!(stamped.status(), 200, "B serves the photo A stored");
    for (kind, file) in [
        ("front", "id-front-sample.jpg"),
        ("back", "id-back-sample.jpg"),
    ] {
        expect(
            app(&b.base, Method::PUT, &format!("/app/v1/photos/{kind}"))
                .header("content-type", "image/jpeg")
                .body(photo(file)),
            StatusCode::OK,
            kind,
        )
        .await;
    }
    let completed = expect(
        app(&b.base, Method::POST, "/app/v1/complete"),
        StatusCode::CREATED,
        "complete on B",
    )
    .await;
    let verification = completed["code"].as_str().expect("code").to_owned();

    // A comes back; 32 redemptions of the one code, split across both.
    let mut a = serve(dir.path(), &env).await;
    let redeem = format!("/filing/v1/cases/{case_id}/redeem");
    let racers: Vec<_> = (0..32)
        .map(|i| {
            let base = if i % 2 == 0 {
                a.base.clone()
            } else {
                b.base.clone()
            };
            let request =
                filing(&base, Method::POST, &redeem).json(&json!({ "code": verification }));
            tokio::spawn(async move { request.send().await.map(|r| r.status()) })
        })
        .collect();
    let mut statuses = Vec::new();
    for racer in racers {
        statuses.push(racer.await.expect("racer").expect("answered"));
    }
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(won, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| !s.is_server_error()),
        "{statuses:?}"
    );

    // Every photo from either instance.
    for kind in ["liveness", "handheld", "front", "back"] {
        for base in [&a.base, &b.base] {
            let path = format!("/filing/v1/cases/{case_id}/photos/{kind}");
            let pulled = filing(base, Method::GET, &path).send().await.expect("sent");
            assert_eq!(pulled.status(), 200, "{base}{path}");
        }
    }

    // The filing system heard case.completed once, with both instances delivering.
    hooks
        .inbox
        .wait_for("case.completed", |i| {
            !i.accepted_of("case.completed").is_empty()
        })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(hooks.inbox.accepted_of("case.completed").len(), 1);
    assert_eq!(terminate(&mut a.child, Duration::from_secs(5)), Some(0));
    let mut b = b;
    assert_eq!(terminate(&mut b.child, Duration::from_secs(5)), Some(0));
}

/// Four frames per action of the challenge, from the project's synthesised samples.
fn liveness_form(challenge: &Value) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for entry in challenge["actions"].as_array().expect("actions") {
        let name = entry["action"].as_str().expect("action").to_owned();
        let action = heyan::domain::liveness::LivenessAction::parse(&name).expect("known");
        for (i, jpeg) in heyan::imaging::samples::liveness_frames(action, 4)
            .into_iter()
            .enumerate()
        {
            let part = reqwest::multipart::Part::bytes(jpeg)
                .file_name(format!("{name}-{i}.jpg"))
                .mime_str("image/jpeg")
                .expect("mime");
            form = form.part(name.clone(), part);
        }
    }
    form
}
