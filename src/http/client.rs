//! Who the client is: its address, and whether it reached us over HTTPS. Both come
//! from the TCP peer, and from `X-Forwarded-For` / `X-Forwarded-Proto` only when the
//! peer is one of the configured trusted proxies (anyone can send those headers).

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};

/// The TCP peer of a request, when the server recorded it (the accept loop does;
/// a router driven without a socket, as in tests, has none).
pub fn peer(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

/// The client's address: the peer, or, behind trusted proxies, the nearest address
/// in `X-Forwarded-For` that is not one of them.
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted_proxies: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|address| !trusted_proxies.contains(address))
            .unwrap_or(peer),
    )
}

/// Whether the client's connection was HTTPS: only a trusted proxy can say so, with
/// `X-Forwarded-Proto: https` (the last value, the one that proxy set).
pub fn is_https(peer: Option<IpAddr>, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> bool {
    peer.is_some_and(|peer| trusted_proxies.contains(&peer))
        && headers
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .next_back()
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let forwarded = headers(&[
            ("x-forwarded-for", "198.51.100.7, 10.0.0.1"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(
            client_address(Some(proxy), &forwarded, &[proxy]),
            Some("198.51.100.7".parse().unwrap())
        );
        assert_eq!(
            client_address(Some(stranger), &forwarded, &[proxy]),
            Some(stranger)
        );
        assert!(is_https(Some(proxy), &forwarded, &[proxy]));
        assert!(!is_https(Some(stranger), &forwarded, &[proxy]));
        assert!(!is_https(None, &forwarded, &[proxy]));
    }
}
