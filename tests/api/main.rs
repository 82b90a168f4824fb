//! Black-box HTTP tests: the real server on a random port, a real database (SQLite, and
//! PostgreSQL when `TEST_POSTGRES_URL` is set), real HTTP through reqwest.

#[path = "../support/mod.rs"]
mod support;

// The S3 test server; this binary uses part of it.
#[allow(dead_code)]
#[path = "../support/s3.rs"]
mod s3;

mod app;
mod capture;
mod filing;
mod fixtures;
mod helpers;
mod idempotency;
mod ops;
mod receiver;
mod review;
mod storage;
mod webhooks;
