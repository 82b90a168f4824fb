//! Who is calling, as every audience reads it: the bearer token of `Authorization`, and
//! the client address (for the audit log and the per-address limits), behind trusted
//! proxies too.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName};
use ipnet::IpNet;

/// The trimmed value after `Authorization: Bearer `, when there is one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The proxies whose forwarding headers are believed (`server.trusted_proxies`); the
/// router puts them in every request's extensions.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    /// Trusts these networks.
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(Arc::new(networks))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// The client address of a request, when the server knows it: the peer, or, when the
/// peer is a trusted proxy, the nearest address in its forwarding headers that is not
/// itself a trusted proxy (headers from anyone else are ignored: they are the client's
/// own words).
pub fn client_ip(parts: &Parts) -> Option<String> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    let trusted = parts
        .extensions
        .get::<TrustedProxies>()
        .cloned()
        .unwrap_or_default();
    Some(resolve(peer, &parts.headers, &trusted).to_string())
}

fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer;
    if !trusted.trusts(client) {
        return client;
    }
    // Right to left: each hop was added by the one after it.
    for hop in forwarded_hops(headers).into_iter().rev() {
        let Some(hop) = hop else { break };
        client = hop;
        if !trusted.trusts(hop) {
            break;
        }
    }
    client
}

/// The addresses a request passed through, first (the original client) to last, from
/// `Forwarded` (RFC 7239) when present, else `X-Forwarded-For`; `None` for a hop that is
/// not an address (`unknown`, an obfuscated name), which ends the walk.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let joined = |name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let forwarded = joined(header::FORWARDED);
    if !forwarded.is_empty() {
        return forwarded
            .split(',')
            .map(|element| {
                element
                    .split(';')
                    .find_map(|pair| {
                        let (name, value) = pair.trim().split_once('=')?;
                        name.eq_ignore_ascii_case("for").then_some(value)
                    })
                    .and_then(parse_node)
            })
            .collect();
    }
    let forwarded_for = joined(HeaderName::from_static("x-forwarded-for"));
    if forwarded_for.is_empty() {
        return Vec::new();
    }
    forwarded_for.split(',').map(parse_node).collect()
}

/// `192.0.2.1`, `"[2001:db8::1]:4711"`, `192.0.2.1:80` → the address.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim().trim_matches('"');
    if let Ok(ip) = raw.parse() {
        return Some(ip);
    }
    if let Some(rest) = raw.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    raw.parse::<SocketAddr>().ok().map(|s| s.ip())
}

/// The caller's address without authentication (for the SMS and login endpoints).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_ip(parts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("header value"));
        }
        map
    }

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().expect("cidr")).collect())
    }

    fn ip(raw: &str) -> IpAddr {
        raw.parse().expect("ip")
    }

    #[test]
    fn forwarding_headers_count_only_from_a_trusted_peer() {
        let h = headers(&[("x-forwarded-for", "203.0.113.5")]);
        let lb = proxies(&["10.0.0.0/8"]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &lb), ip("203.0.113.5"));
        assert_eq!(
            resolve(ip("198.51.100.7"), &h, &lb),
            ip("198.51.100.7"),
            "spoofed"
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), &h, &TrustedProxies::default()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() {
        let lb = proxies(&["10.0.0.0/8", "127.0.0.1/32"]);
        // The client wrote the first entry itself; our proxies appended the rest.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.5, 10.0.0.9")]);
        assert_eq!(resolve(ip("127.0.0.1"), &h, &lb), ip("203.0.113.5"));
        let h = headers(&[
            (
                "forwarded",
                r#"for=1.2.3.4, for="[2001:db8:cafe::17]:4711";proto=https"#,
            ),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        assert_eq!(resolve(ip("10.1.1.1"), &h, &lb), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(resolve(ip("10.1.1.1"), &h, &lb), ip("10.1.1.1"));
        let h = headers(&[("x-forwarded-for", "10.0.0.3")]);
        assert_eq!(
            resolve(ip("10.1.1.1"), &h, &lb),
            ip("10.0.0.3"),
            "all trusted"
        );
    }
}
