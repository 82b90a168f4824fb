//! Accounts created by operators: filing-system clients with their API keys, and reviewer
//! accounts with argon2id passwords.

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{quota, webhooks, FlowError, Services};
use crate::domain::ids::{ClientId, ClientKeyId, ReviewerId};
use crate::domain::role::Role;
use crate::error_code::ErrorCode;
use crate::pii;
use crate::secrets::Keyring;
use crate::store::{NewClient, NewClientKey, NewReviewer, Store};

/// Every API key starts with this, so leaked keys are easy to scan for.
pub const API_KEY_PREFIX: &str = "hyk_";
/// How many characters of a key are kept to tell keys apart.
const SHOWN_PREFIX_LEN: usize = 12;
/// Shortest password accepted for a reviewer.
const MIN_PASSWORD_CHARS: usize = 12;

/// A client just created, with the only copy of its API key.
pub struct CreatedClient {
    /// The new client's id.
    pub id: ClientId,
    /// The API key in the clear: shown once, never stored.
    pub api_key: SecretString,
    /// The webhook signing secret (stored sealed; shown once here).
    pub webhook_secret: Option<SecretString>,
}

/// SHA-256 (hex) of an API key: how keys are stored and looked up. Keys carry 256 random
/// bits, so a fast hash is enough and lookups stay one indexed query.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn new_api_key() -> String {
    random_token(API_KEY_PREFIX)
}

/// Creates a filing-system client and its first API key; with a webhook URL, also its
/// webhook signing secret.
pub async fn add_client(
    store: &dyn Store,
    keys: &Keyring,
    name: &str,
    webhook_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<CreatedClient, FlowError> {
    let name = checked_name("name", name)?;
    let webhook_url = webhook_url.map(checked_webhook_url).transpose()?;
    let id = ClientId::new();
    let api_key = new_api_key();
    let webhook_secret = webhook_url.as_ref().map(|_| random_token("whsec_"));
    let client = NewClient {
        webhook_secret_sealed: webhook_secret
            .as_deref()
            .map(|s| pii::seal(keys, &webhooks::secret_context(&id), s)),
        id: id.clone(),
        name,
        webhook_url,
        created_at: now,
    };
    let key = new_key(&id, &api_key, now);
    store.insert_client(&client, &key).await?;
    tracing::info!(client.id = %id, "client created");
    Ok(CreatedClient {
        id,
        api_key: SecretString::from(api_key),
        webhook_secret: webhook_secret.map(SecretString::from),
    })
}

/// A client's second key for a rotation: both stay valid until the old one is revoked.
/// The client behind a well-formed API key, charged one request of its per-minute quota:
/// `unknown_api_key`, `revoked_api_key` (client or key) or `rate_limited` otherwise.
pub async fn authenticate_client(svc: &Services, key: &str) -> Result<ClientId, FlowError> {
    let found = svc
        .store
        .find_client_by_key_hash(&hash_api_key(key))
        .await?;
    let Some((client, key)) = found else {
        return Err(ErrorCode::UnknownApiKey.into());
    };
    if client.revoked_at.is_some() || key.revoked_at.is_some() {
        return Err(ErrorCode::RevokedApiKey.into());
    }
    quota::take(
        svc.store.as_ref(),
        &format!("filing_api:{}", client.id),
        svc.settings.filing.requests_per_minute,
        Duration::minutes(1),
        svc.clock.now(),
    )
    .await
    .map_err(|e| quota::relabel(e, ErrorCode::RateLimited))?;
    Ok(client.id)
}

/// Refused while two keys are active, so a rotation ends before the next begins.
pub async fn rotate_key(
    store: &dyn Store,
    client_id: &ClientId,
    now: DateTime<Utc>,
) -> Result<SecretString, FlowError> {
    let client = store.get_client(client_id).await?;
    if client.revoked_at.is_some() {
        return Err(ErrorCode::ClientRevoked.into());
    }
    let active = store
        .list_client_keys(client_id)
        .await?
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .count();
    if active >= 2 {
        return Err(ErrorCode::TwoKeysActive.into());
    }
    let api_key = new_api_key();
    store
        .insert_client_key(&new_key(client_id, &api_key, now))
        .await?;
    tracing::info!(client.id = %client_id, "client key added");
    Ok(SecretString::from(api_key))
}

fn new_key(client_id: &ClientId, api_key: &str, now: DateTime<Utc>) -> NewClientKey {
    NewClientKey {
        id: ClientKeyId::new(),
        client_id: client_id.clone(),
        key_hash: hash_api_key(api_key),
        key_prefix: api_key.chars().take(SHOWN_PREFIX_LEN).collect(),
        created_at: now,
    }
}

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Creates a reviewer account with an argon2id password hash.
pub async fn add_reviewer(
    store: &dyn Store,
    username: &str,
    display_name: &str,
    password: &SecretString,
    roles: Vec<Role>,
    now: DateTime<Utc>,
) -> Result<ReviewerId, FlowError> {
    let username = checked_username(username)?;
    let display_name = checked_name("display_name", display_name)?;
    check_password(password)?;
    if roles.is_empty() {
        return Err(invalid("roles", "empty", "at least one role".into()));
    }
    let id = ReviewerId::new();
    let reviewer = NewReviewer {
        id: id.clone(),
        username,
        display_name,
        password_hash: hash_password(password)?,
        roles,
        created_at: now,
    };
    store.insert_reviewer(&reviewer).await?;
    tracing::info!(reviewer.id = %id, "reviewer created");
    Ok(id)
}

/// Disables a reviewer account (an operator's action, audited); its sessions end.
pub async fn disable_reviewer(
    store: &dyn Store,
    username: &str,
    now: DateTime<Utc>,
) -> Result<(), FlowError> {
    store.disable_reviewer(username, now).await?;
    let details = serde_json::json!({ "username": username });
    super::audit::record(store, &operator(), "reviewer.disabled", None, details, now).await
}

/// Sets a new password (an operator's action, audited); lifts a lock, ends sessions.
pub async fn reset_reviewer_password(
    store: &dyn Store,
    username: &str,
    password: &SecretString,
    now: DateTime<Utc>,
) -> Result<(), FlowError> {
    check_password(password)?;
    store
        .set_reviewer_password(username, &hash_password(password)?, now)
        .await?;
    let details = serde_json::json!({ "username": username });
    super::audit::record(
        store,
        &operator(),
        "reviewer.password_reset",
        None,
        details,
        now,
    )
    .await
}

fn operator() -> super::Actor {
    super::Actor {
        kind: "operator",
        id: "cli".into(),
        ip: None,
    }
}

fn check_password(password: &SecretString) -> Result<(), FlowError> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(invalid(
            "password",
            "too_short",
            format!("at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// argon2id with the crate's default (OWASP-recommended) parameters and a random salt.
pub fn hash_password(password: &SecretString) -> Result<String, FlowError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| FlowError::Internal(anyhow::anyhow!("argon2: {e}")))
}

/// A random password for a new account: 16 characters from a look-alike-free alphabet.
pub fn generate_password() -> SecretString {
    const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let text: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    SecretString::from(text)
}

fn invalid(field: &str, problem: &'static str, message: String) -> FlowError {
    FlowError::Invalid {
        field: field.into(),
        problem,
        message,
    }
}

fn checked_name(field: &str, raw: &str) -> Result<String, FlowError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(invalid(field, "empty", "must not be empty".into()));
    }
    if name.chars().count() > 100 {
        return Err(invalid(field, "too_long", "at most 100 characters".into()));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "invalid_character",
            "no control characters".into(),
        ));
    }
    Ok(name.to_owned())
}

fn checked_username(raw: &str) -> Result<String, FlowError> {
    let name = raw.trim();
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if name.is_empty() || name.len() > 64 || !ok_chars {
        return Err(invalid(
            "name",
            "invalid_username",
            "1–64 characters of a-z, 0-9, '.', '_' or '-'".into(),
        ));
    }
    Ok(name.to_ascii_lowercase())
}

fn checked_webhook_url(raw: &str) -> Result<String, FlowError> {
    let parsed = url::Url::parse(raw.trim())
        .map_err(|e| invalid("webhook_url", "invalid_url", format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(invalid(
            "webhook_url",
            "invalid_url",
            "must be an http(s) URL with a host".into(),
        ));
    }
    Ok(parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_long_random_and_prefixed() {
        let a = new_api_key();
        assert!(a.starts_with(API_KEY_PREFIX));
        assert_eq!(a.len(), API_KEY_PREFIX.len() + 43);
        assert_ne!(a, new_api_key());
        assert_eq!(hash_api_key(&a).len(), 64);
    }

    #[test]
    fn usernames_are_checked_and_lowercased() {
        assert_eq!(checked_username(" Li.Lei ").ok(), Some("li.lei".into()));
        for bad in ["", "a b", "名字", &"x".repeat(65)] {
            assert!(checked_username(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn webhook_urls_must_be_http() {
        assert!(checked_webhook_url("https://filing.example.com/hook").is_ok());
        for bad in ["ftp://x", "not a url", "file:///etc/passwd"] {
            assert!(checked_webhook_url(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn generated_passwords_are_long_enough() {
        let p = generate_password();
        assert_eq!(p.expose_secret().chars().count(), 16);
    }
}
