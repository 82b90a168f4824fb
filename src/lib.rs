//! heyan (核验): the Shanghai-mode App verification step of ICP website filing.
//!
//! Dependencies point one way: `http` → `flow` → `domain`, with `store`, `blob` and
//! `secrets` as ports that `flow` calls.

/// Encrypted blob storage for photos (AES-256-GCM, bound to the blob id).
pub mod blob;
/// The command line: serve, migrate, check-config, client, reviewer.
pub mod cli;
/// Where "now" comes from; tests move it.
pub mod clock;
/// Settings: defaults, TOML file, `HEYAN_*` environment; validation.
pub mod config;
/// `heyan demo`: the whole flow against an in-process server, with sample images.
pub mod demo;
/// Pages of `docs/` generated from the code: the settings reference and the route index.
pub mod docs;
/// Value types parsed at the boundary, masking, pure rules. No I/O.
pub mod domain;
/// The catalog of error codes clients see: status, zh-CN and English messages.
pub mod error_code;
/// Use cases orchestrating the ports.
pub mod flow;
/// HTTP: routes, middleware, errors, extractors, ops endpoints.
pub mod http;
/// Pure image work: QR codes, the photo pipeline, faces, liveness judgement, samples.
pub mod imaging;
/// Personal data fields sealed at rest, and lookup HMACs.
pub mod pii;
/// The master secret and the keys derived from it.
pub mod secrets;
/// SMS providers behind the `SmsSender` port.
pub mod sms;
/// Building and running the service.
pub mod startup;
/// Durable records: the `Store` port and its SQLite and PostgreSQL backends.
pub mod store;
/// Logging set-up and span-preserving blocking work.
pub mod telemetry;
