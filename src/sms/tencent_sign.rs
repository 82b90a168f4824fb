//! TC3-HMAC-SHA256 request signing for Tencent Cloud API 3.0, as used by Tencent Cloud SMS
//! (`SendSms`, version `2021-01-11`).
//!
//! This module only computes headers: it owns the canonical request, the string to sign,
//! the derived-key chain and the `Authorization` value, following Tencent's "签名方法 v3"
//! (signature method v3) documentation. It must not read the clock, do I/O or log: the
//! caller passes the timestamp, so a test server can recompute a signature with the same
//! function and get the same bytes. The secret key never leaves this module and never
//! appears in `Debug` output.

use std::fmt;

use chrono::DateTime;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The only signature algorithm of API 3.0 signing v3.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
/// Content type sent and signed. It must match the header actually sent byte for byte,
/// including the charset, or Tencent answers `AuthFailure.SignatureFailure`.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// Service name of Tencent Cloud SMS in the credential scope.
pub const SMS_SERVICE: &str = "sms";
/// Endpoint host of Tencent Cloud SMS (nearest region).
pub const SMS_HOST: &str = "sms.tencentcloudapi.com";
/// API version of Tencent Cloud SMS that `SendSms` belongs to.
pub const SMS_VERSION: &str = "2021-01-11";
/// Action that sends a templated SMS.
pub const SEND_SMS_ACTION: &str = "SendSms";

/// Headers covered by the signature: the two the documentation requires. Keeping to them
/// makes Tencent's published worked example reproducible with this very function.
const SIGNED_HEADERS: &str = "content-type;host";
/// Last element of the credential scope and of the derived-key chain.
const TERMINATOR: &str = "tc3_request";
/// API 3.0 always posts to the root path.
const CANONICAL_URI: &str = "/";
/// A POST request signs an empty query string.
const CANONICAL_QUERY: &str = "";

type HmacSha256 = Hmac<Sha256>;

/// One API 3.0 call to sign: credentials, target and body.
///
/// `Debug` hides the secret key and the payload (an SMS payload holds phone numbers).
#[derive(Clone, Copy)]
pub struct TencentRequest<'a> {
    /// SecretId of the API key; it is sent in the clear inside `Authorization`.
    pub secret_id: &'a str,
    /// SecretKey of the API key; only used as HMAC key material.
    pub secret_key: &'a str,
    /// Service name in the credential scope, e.g. `sms`.
    pub service: &'a str,
    /// Endpoint host, e.g. `sms.tencentcloudapi.com`.
    pub host: &'a str,
    /// Region, e.g. `ap-guangzhou`.
    pub region: &'a str,
    /// Action name, e.g. `SendSms`.
    pub action: &'a str,
    /// API version of the action, e.g. `2021-01-11`.
    pub version: &'a str,
    /// Unix time in seconds; Tencent refuses requests more than 5 minutes off its clock.
    pub timestamp: i64,
    /// The exact JSON body that will be sent.
    pub payload: &'a str,
}

impl<'a> TencentRequest<'a> {
    /// A `SendSms` call to Tencent Cloud SMS (`sms.tencentcloudapi.com`, version `2021-01-11`).
    pub fn send_sms(
        secret_id: &'a str,
        secret_key: &'a str,
        region: &'a str,
        timestamp: i64,
        payload: &'a str,
    ) -> Self {
        Self {
            secret_id,
            secret_key,
            service: SMS_SERVICE,
            host: SMS_HOST,
            region,
            action: SEND_SMS_ACTION,
            version: SMS_VERSION,
            timestamp,
            payload,
        }
    }
}

impl fmt::Debug for TencentRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TencentRequest")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"[redacted]")
            .field("service", &self.service)
            .field("host", &self.host)
            .field("region", &self.region)
            .field("action", &self.action)
            .field("version", &self.version)
            .field("timestamp", &self.timestamp)
            .field("payload_bytes", &self.payload.len())
            .finish()
    }
}

/// The headers of a signed API 3.0 request, ready to be set on the HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    authorization: String,
    host: String,
    action: String,
    timestamp: String,
    version: String,
    region: String,
}

impl SignedHeaders {
    /// The `Authorization` header value (`TC3-HMAC-SHA256 Credential=…, SignedHeaders=…,
    /// Signature=…`); a verifier compares it with its own recomputation.
    pub fn authorization(&self) -> &str {
        &self.authorization
    }

    /// All seven headers as `(name, value)` pairs, in the order of Tencent's examples.
    pub fn pairs(&self) -> [(&'static str, &str); 7] {
        [
            ("Authorization", self.authorization.as_str()),
            ("Content-Type", CONTENT_TYPE),
            ("Host", self.host.as_str()),
            ("X-TC-Action", self.action.as_str()),
            ("X-TC-Timestamp", self.timestamp.as_str()),
            ("X-TC-Version", self.version.as_str()),
            ("X-TC-Region", self.region.as_str()),
        ]
    }
}

/// Why a request could not be signed.
///
/// Messages name the field but never carry its value, so they can be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// A field that is sent or signed is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// Name of the offending field.
        field: &'static str,
    },
    /// A field that goes into a header has a character outside visible ASCII; a space or
    /// line break there would corrupt the header or the canonical request.
    #[error("{field} may contain only visible ASCII characters")]
    InvalidCharacter {
        /// Name of the offending field.
        field: &'static str,
    },
    /// The timestamp is negative or beyond the calendar's range.
    #[error("timestamp is outside the supported range")]
    TimestampOutOfRange,
    /// The HMAC implementation refused a key; HMAC-SHA256 accepts keys of any length, so
    /// this is unreachable in practice and exists to avoid a panic path.
    #[error("HMAC key rejected")]
    InvalidKey,
}

/// Signs `request` and returns every header the call needs.
pub fn sign(request: &TencentRequest<'_>) -> Result<SignedHeaders, SignError> {
    validate(request)?;
    let date = utc_date(request.timestamp)?;
    let scope = credential_scope(&date, request.service);
    let canonical = canonical_request(request.host, request.payload);
    let to_sign = string_to_sign(request.timestamp, &scope, &canonical);
    let key = signing_key(request.secret_key, &date, request.service)?;
    let signature = hex::encode(hmac_sha256(&key, &to_sign)?);
    Ok(SignedHeaders {
        authorization: authorization(request.secret_id, &scope, &signature),
        host: request.host.to_owned(),
        action: request.action.to_owned(),
        timestamp: request.timestamp.to_string(),
        version: request.version.to_owned(),
        region: request.region.to_owned(),
    })
}

/// Refuses values that would produce a malformed header or canonical request.
fn validate(request: &TencentRequest<'_>) -> Result<(), SignError> {
    let header_fields = [
        ("secret_id", request.secret_id),
        ("service", request.service),
        ("host", request.host),
        ("region", request.region),
        ("action", request.action),
        ("version", request.version),
    ];
    for (field, value) in header_fields {
        if value.is_empty() {
            return Err(SignError::Empty { field });
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SignError::InvalidCharacter { field });
        }
    }
    if request.secret_key.is_empty() {
        return Err(SignError::Empty {
            field: "secret_key",
        });
    }
    Ok(())
}

/// The UTC date of the timestamp. Tencent derives the scope date in UTC: a local date
/// (UTC+8) would fail every request between 00:00 and 08:00 Beijing time.
fn utc_date(timestamp: i64) -> Result<String, SignError> {
    if timestamp < 0 {
        return Err(SignError::TimestampOutOfRange);
    }
    let instant = DateTime::from_timestamp(timestamp, 0).ok_or(SignError::TimestampOutOfRange)?;
    Ok(instant.format("%Y-%m-%d").to_string())
}

/// `Date/service/tc3_request`.
fn credential_scope(date: &str, service: &str) -> String {
    format!("{date}/{service}/{TERMINATOR}")
}

/// Step 1: method, URI, query, canonical headers, signed headers and the payload hash,
/// joined by `\n`. Header values are lower-cased as the documentation requires.
fn canonical_request(host: &str, payload: &str) -> String {
    let content_type = CONTENT_TYPE.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    let canonical_headers = format!("content-type:{content_type}\nhost:{host}\n");
    format!(
        "POST\n{CANONICAL_URI}\n{CANONICAL_QUERY}\n{canonical_headers}\n{SIGNED_HEADERS}\n{}",
        sha256_hex(payload)
    )
}

/// Step 2: algorithm, timestamp, credential scope and the hash of the canonical request.
fn string_to_sign(timestamp: i64, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
        sha256_hex(canonical_request)
    )
}

/// Step 3a: SecretDate → SecretService → SecretSigning.
fn signing_key(secret_key: &str, date: &str, service: &str) -> Result<[u8; 32], SignError> {
    let secret_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date)?;
    let secret_service = hmac_sha256(&secret_date, service)?;
    hmac_sha256(&secret_service, TERMINATOR)
}

/// Step 4: the `Authorization` header value.
fn authorization(secret_id: &str, scope: &str, signature: &str) -> String {
    format!(
        "{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, \
         Signature={signature}"
    )
}

/// Lower-case hex SHA-256 of UTF-8 text.
fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Raw HMAC-SHA256 of UTF-8 text under `key`.
fn hmac_sha256(key: &[u8], message: &str) -> Result<[u8; 32], SignError> {
    let mut mac = HmacSha256::new_from_slice(key).map_err(|_| SignError::InvalidKey)?;
    mac.update(message.as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Tencent's worked example of "签名方法 v3": CVM DescribeInstances in ap-guangzhou at
    // X-TC-Timestamp 1551113065 (2019-02-26 00:44:25 in UTC+8, so the scope date is
    // 2019-02-25). Every `DOC_*` value below is copied from Tencent's published text:
    // - the Chinese API 3.0 guide in Tencent's documentation repository
    //   tencentyun/qcloud-documents, `product/云资源管理/云API/操作指南/C++_API.md`
    //   (payload, its hash, the canonical request, HashedCanonicalRequest, the string to
    //   sign, and the full signature in the example `curl` command);
    // - the same example as served at cloud.tencent.com/document/product/215/36792 and in
    //   the English "Signature v3" page, which also print the credentials unmasked as
    //   `AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE` / `Gu5t9xGARNpq86cd98joQYCN3EXAMPLE`
    //   (the English page: `SecretKey = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"`, and
    //   `Signature … 72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168`).
    const DOC_SECRET_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
    const DOC_SECRET_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
    const DOC_TIMESTAMP: i64 = 1551113065;
    const DOC_PAYLOAD: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    const DOC_HASHED_PAYLOAD: &str =
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064";
    const DOC_CANONICAL_REQUEST: &str = "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064";
    const DOC_HASHED_CANONICAL_REQUEST: &str =
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031";
    const DOC_STRING_TO_SIGN: &str = "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031";
    const DOC_SIGNATURE: &str = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168";

    fn doc_request() -> TencentRequest<'static> {
        TencentRequest {
            secret_id: DOC_SECRET_ID,
            secret_key: DOC_SECRET_KEY,
            service: "cvm",
            host: "cvm.tencentcloudapi.com",
            region: "ap-guangzhou",
            action: "DescribeInstances",
            version: "2017-03-12",
            timestamp: DOC_TIMESTAMP,
            payload: DOC_PAYLOAD,
        }
    }

    fn header<'h>(headers: &'h SignedHeaders, name: &str) -> Option<&'h str> {
        headers
            .pairs()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    #[test]
    fn payload_hash_matches_the_published_example() {
        assert_eq!(sha256_hex(DOC_PAYLOAD), DOC_HASHED_PAYLOAD);
    }

    #[test]
    fn canonical_request_matches_the_published_example_byte_for_byte() {
        let canonical = canonical_request("cvm.tencentcloudapi.com", DOC_PAYLOAD);
        assert_eq!(canonical, DOC_CANONICAL_REQUEST);
        assert_eq!(sha256_hex(&canonical), DOC_HASHED_CANONICAL_REQUEST);
    }

    #[test]
    fn scope_date_is_the_utc_date_not_the_beijing_date() {
        let date = utc_date(DOC_TIMESTAMP).expect("in range");
        assert_eq!(credential_scope(&date, "cvm"), "2019-02-25/cvm/tc3_request");
    }

    #[test]
    fn string_to_sign_matches_the_published_example() {
        let to_sign = string_to_sign(
            DOC_TIMESTAMP,
            "2019-02-25/cvm/tc3_request",
            DOC_CANONICAL_REQUEST,
        );
        assert_eq!(to_sign, DOC_STRING_TO_SIGN);
    }

    #[test]
    fn signature_matches_the_published_example() {
        let headers = sign(&doc_request()).expect("signs");
        let expected = format!(
            "TC3-HMAC-SHA256 Credential={DOC_SECRET_ID}/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, Signature={DOC_SIGNATURE}"
        );
        assert_eq!(headers.authorization(), expected);
    }

    #[test]
    fn headers_match_the_published_final_request() {
        let headers = sign(&doc_request()).expect("signs");
        let names: Vec<&str> = headers.pairs().iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "Authorization",
                "Content-Type",
                "Host",
                "X-TC-Action",
                "X-TC-Timestamp",
                "X-TC-Version",
                "X-TC-Region"
            ]
        );
        assert_eq!(header(&headers, "Content-Type"), Some(CONTENT_TYPE));
        assert_eq!(header(&headers, "Host"), Some("cvm.tencentcloudapi.com"));
        assert_eq!(header(&headers, "X-TC-Action"), Some("DescribeInstances"));
        assert_eq!(header(&headers, "X-TC-Timestamp"), Some("1551113065"));
        assert_eq!(header(&headers, "X-TC-Version"), Some("2017-03-12"));
        assert_eq!(header(&headers, "X-TC-Region"), Some("ap-guangzhou"));
    }

    #[test]
    fn matches_tencents_official_demo_program_with_masked_credentials() {
        // Tencent's current page prints the credentials masked
        // (`AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******`, `Gu5t9xGARNpq86cd98joQYCN3*******`),
        // and no copy of that page with its final signature was available to check. Instead:
        // Tencent's own demo, TencentCloud/signature-process-demo
        // `cvm/signature-v3/python/demo.py`, run unmodified with those literal strings and
        // its own payload (`json.dumps` orders `Name` before `Values`), prints the values
        // asserted here.
        let payload = r#"{"Limit": 1, "Filters": [{"Name": "instance-name", "Values": ["\u672a\u547d\u540d"]}]}"#;
        let request = TencentRequest {
            secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
            secret_key: "Gu5t9xGARNpq86cd98joQYCN3*******",
            payload,
            ..doc_request()
        };
        assert_eq!(
            sha256_hex(payload),
            "f9dac7c1784dda36748c2bebf72534940dec61a1c7da929e45876c5e287771fd"
        );
        let headers = sign(&request).expect("signs");
        assert_eq!(
            headers.authorization(),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=b74c852d4dc00bdf326a77a4248dccf32f1a4d08ff6efc604f00c7057f193adb"
        );
    }

    #[test]
    fn send_sms_targets_the_sms_service_and_version() {
        let payload = r#"{"PhoneNumberSet":["+8613800000000"]}"#;
        let request =
            TencentRequest::send_sms("AKIDtest", "secret", "ap-guangzhou", 1_700_000_000, payload);
        let headers = sign(&request).expect("signs");
        assert!(headers
            .authorization()
            .starts_with("TC3-HMAC-SHA256 Credential=AKIDtest/2023-11-14/sms/tc3_request, "));
        assert_eq!(header(&headers, "Host"), Some("sms.tencentcloudapi.com"));
        assert_eq!(header(&headers, "X-TC-Action"), Some("SendSms"));
        assert_eq!(header(&headers, "X-TC-Version"), Some("2021-01-11"));
        assert_eq!(header(&headers, "X-TC-Timestamp"), Some("1700000000"));
    }

    #[test]
    fn signature_changes_with_payload_key_and_time() {
        let base = sign(&doc_request()).expect("signs");
        let variants = [
            (
                "payload",
                TencentRequest {
                    payload: "{}",
                    ..doc_request()
                },
            ),
            (
                "secret key",
                TencentRequest {
                    secret_key: "other",
                    ..doc_request()
                },
            ),
            (
                "timestamp",
                TencentRequest {
                    timestamp: DOC_TIMESTAMP + 1,
                    ..doc_request()
                },
            ),
            (
                "host",
                TencentRequest {
                    host: "cvm.ap-guangzhou.tencentcloudapi.com",
                    ..doc_request()
                },
            ),
        ];
        for (what, request) in variants {
            let other = sign(&request).expect("signs");
            assert_ne!(
                other.authorization(),
                base.authorization(),
                "{what} must be signed"
            );
        }
    }

    #[test]
    fn host_is_lower_cased_in_the_canonical_request() {
        let upper = TencentRequest {
            host: "CVM.TencentCloudAPI.com",
            ..doc_request()
        };
        let headers = sign(&upper).expect("signs");
        assert!(headers.authorization().ends_with(DOC_SIGNATURE));
    }

    #[test]
    fn refuses_empty_and_header_breaking_fields() {
        let cases = [
            (
                "empty secret id",
                TencentRequest {
                    secret_id: "",
                    ..doc_request()
                },
                SignError::Empty { field: "secret_id" },
            ),
            (
                "empty secret key",
                TencentRequest {
                    secret_key: "",
                    ..doc_request()
                },
                SignError::Empty {
                    field: "secret_key",
                },
            ),
            (
                "empty region",
                TencentRequest {
                    region: "",
                    ..doc_request()
                },
                SignError::Empty { field: "region" },
            ),
            (
                "newline in action",
                TencentRequest {
                    action: "SendSms\r\nX: y",
                    ..doc_request()
                },
                SignError::InvalidCharacter { field: "action" },
            ),
            (
                "space in host",
                TencentRequest {
                    host: "sms .tencentcloudapi.com",
                    ..doc_request()
                },
                SignError::InvalidCharacter { field: "host" },
            ),
            (
                "non-ASCII version",
                TencentRequest {
                    version: "２021-01-11",
                    ..doc_request()
                },
                SignError::InvalidCharacter { field: "version" },
            ),
            (
                "negative timestamp",
                TencentRequest {
                    timestamp: -1,
                    ..doc_request()
                },
                SignError::TimestampOutOfRange,
            ),
            (
                "timestamp past the calendar",
                TencentRequest {
                    timestamp: i64::MAX,
                    ..doc_request()
                },
                SignError::TimestampOutOfRange,
            ),
        ];
        for (what, request, expected) in cases {
            assert_eq!(sign(&request), Err(expected), "{what}");
        }
    }

    #[test]
    fn debug_hides_the_secret_key_and_payload() {
        let shown = format!("{:?}", doc_request());
        assert!(!shown.contains(DOC_SECRET_KEY), "{shown}");
        assert!(!shown.contains("instance-name"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
