//! `[server]`: the HTTP listeners (public and admin), public URL, timeouts and body limits.

use std::net::SocketAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::reference::SettingDoc;

/// HTTP server settings (`[server]`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// `HEYAN_SERVER__LISTEN`: address to listen on. Default `127.0.0.1:8080`; port 0 picks one.
    pub listen: SocketAddr,
    /// `HEYAN_SERVER__ADMIN_LISTEN`: address of the admin listener, which serves `/metrics`
    /// and readiness details for operators only. Default `127.0.0.1:9464`; port 0 picks one.
    pub admin_listen: SocketAddr,
    /// `HEYAN_SERVER__PUBLIC_BASE_URL`: the URL phones and browsers reach heyan at (used in
    /// QR codes and links). Default `http://{listen}`.
    pub public_base_url: Option<String>,
    /// `HEYAN_SERVER__REQUEST_TIMEOUT_SECS`: a request still running after this is answered
    /// with 503 `request_timeout`. Default 30.
    pub request_timeout_secs: u64,
    /// `HEYAN_SERVER__JSON_BODY_LIMIT_BYTES`: largest JSON request body. Default 65536.
    /// Upload routes set their own, larger limit.
    pub json_body_limit_bytes: usize,
    /// `HEYAN_SERVER__SHUTDOWN_GRACE_SECS`: how long in-flight requests may run after
    /// SIGTERM/Ctrl-C before the process exits anyway. Default 10.
    pub shutdown_grace_secs: u64,
    /// `HEYAN_SERVER__TRUSTED_PROXIES`: networks (CIDR) of the reverse proxies in front of
    /// heyan, whose `Forwarded`/`X-Forwarded-For` headers name the client. Default none.
    pub trusted_proxies: Vec<IpNet>,
}

/// The settings reference's line for each `[server]` setting (docs/configuration.md).
pub(super) const DOCS: &[SettingDoc] = &[
    SettingDoc::new("listen", "Address and port to listen on; port 0 picks a free port."),
    SettingDoc::new("admin_listen", "Address and port of the admin listener, which alone serves `/metrics` and the details of `/readyz`; keep it on loopback or an operators' network. Port 0 picks a free port."),
    SettingDoc::new("public_base_url", "The URL phones and browsers reach heyan at, used in QR codes and links.").default_text("`http://{listen}`"),
    SettingDoc::new("request_timeout_secs", "A request still running after this many seconds is answered 503 `request_timeout`; at least 1."),
    SettingDoc::new("json_body_limit_bytes", "Largest JSON request body, at least 1024; upload routes set their own, larger limit."),
    SettingDoc::new("shutdown_grace_secs", "Seconds that requests in flight may still run after SIGTERM or Ctrl-C."),
    SettingDoc::new("trusted_proxies", "Networks (CIDR, e.g. `[\"10.0.0.0/8\"]`) of the reverse proxies in front of heyan; only their `Forwarded`/`X-Forwarded-For` headers are believed. Per-address limits then count the client behind them (IPv6 by /64)."),
];

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            public_base_url: None,
            request_timeout_secs: 30,
            json_body_limit_bytes: 64 * 1024,
            shutdown_grace_secs: 10,
            trusted_proxies: Vec::new(),
        }
    }
}

impl ServerSettings {
    /// Limits that must be positive and a well-formed public URL.
    pub(super) fn check(&self, problems: &mut Vec<String>) {
        if self.request_timeout_secs == 0 {
            problems.push(
                "server.request_timeout_secs (HEYAN_SERVER__REQUEST_TIMEOUT_SECS) must be at least 1"
                    .into(),
            );
        }
        if self.json_body_limit_bytes < 1024 {
            problems.push(
                "server.json_body_limit_bytes (HEYAN_SERVER__JSON_BODY_LIMIT_BYTES) must be at least 1024"
                    .into(),
            );
        }
        if self.admin_listen == self.listen && self.listen.port() != 0 {
            problems.push(format!(
                "server.admin_listen (HEYAN_SERVER__ADMIN_LISTEN) must differ from server.listen ({})",
                self.listen
            ));
        }
        if let Some(raw) = &self.public_base_url {
            if let Err(e) = super::check_base_url(raw) {
                problems.push(format!(
                    "server.public_base_url (HEYAN_SERVER__PUBLIC_BASE_URL): {e}"
                ));
            }
        }
    }
}
