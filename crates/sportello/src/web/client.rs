//! Who is calling: the TCP peer, or — when the peer is one of the `trusted_proxies` — the
//! address those proxies report in `X-Forwarded-For`. Rate limits, the audit log and the
//! station's address list all use this one answer.
//!
//! `X-Forwarded-For` is read only from a trusted peer, right to left: each proxy appends the
//! address it received the request from, so the first address that is not itself a trusted
//! proxy is the client. Anything to its left was written by the client and proves nothing.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};

use crate::config::IpNetwork;

const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address for a request from `peer` with `headers`, given the trusted proxies.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNetwork]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // A hop we cannot read: the last address we can vouch for is the answer.
            return client;
        };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    client
}

/// An address as proxies write it: `192.0.2.1`, `2001:db8::1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        })
}

/// The client's address of a request, from its connection info and headers; `None` when the
/// connection info is missing (a router driven without a socket).
pub fn of_request(
    extensions: &Extensions,
    headers: &HeaderMap,
    trusted: &[IpNetwork],
) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| client_addr(c.0.ip(), headers, trusted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append(FORWARDED_FOR, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = [
            IpNetwork::parse("10.0.0.0/8").unwrap(),
            IpNetwork::parse("192.0.2.10").unwrap(),
        ];
        // Not from a proxy: the header is the client's own claim.
        assert_eq!(
            client_addr(ip("203.0.113.5"), &headers(&["1.2.3.4"]), &proxies),
            ip("203.0.113.5")
        );
        // From a proxy: the rightmost address that is not a proxy.
        assert_eq!(
            client_addr(
                ip("10.0.0.1"),
                &headers(&["6.6.6.6, 198.51.100.7", "192.0.2.10"]),
                &proxies
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_addr(ip("10.0.0.1"), &headers(&["[2001:db8::5]:4711"]), &proxies),
            ip("2001:db8::5")
        );
        // No header, or garbage in it: the proxy itself.
        assert_eq!(
            client_addr(ip("10.0.0.1"), &headers(&[]), &proxies),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_addr(ip("10.0.0.1"), &headers(&["unknown"]), &proxies),
            ip("10.0.0.1")
        );
        // Nothing trusted: never read.
        assert_eq!(
            client_addr(ip("10.0.0.1"), &headers(&["1.2.3.4"]), &[]),
            ip("10.0.0.1")
        );
    }
}
