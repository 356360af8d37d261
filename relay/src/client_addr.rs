//! Who is connecting: the client's address (named by a trusted reverse proxy, or the TCP peer),
//! and the per-address cap on open WebSocket connections. Every per-address limit (gift wraps,
//! signer messages, connections) is keyed by the address found here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::config::{ClientIpHeader, TrustedProxies};

/// Why a WebSocket upgrade is refused; [`UpgradeRefusal::into_response`] is its one mapping to
/// HTTP (status and `X-Reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeRefusal {
    /// The client has `limits.connections_per_ip` connections open already.
    #[error("too many connections from this address")]
    TooManyConnections,
    /// A trusted proxy sent no client address, or one that does not parse: refused rather than
    /// counted as the proxy's own, which would put every client behind it under one cap.
    #[error("the proxy did not name the client address")]
    NoClientAddress,
}

impl IntoResponse for UpgradeRefusal {
    fn into_response(self) -> Response {
        let status = match self {
            Self::TooManyConnections => StatusCode::TOO_MANY_REQUESTS,
            Self::NoClientAddress => StatusCode::BAD_REQUEST,
        };
        let reason = self.to_string();
        let mut response = (status, format!("{reason}\n")).into_response();
        if let Ok(value) = HeaderValue::from_str(&reason) {
            response.headers_mut().insert("x-reason", value);
        }
        response
    }
}

/// The client's address: from the configured header when the TCP `peer` is a trusted proxy
/// (the rightmost entry, which that proxy wrote; anything left of it the client could forge),
/// else the peer itself, whatever headers it sent.
pub(crate) fn client_ip(
    proxies: &TrustedProxies,
    peer: IpAddr,
    headers: &HeaderMap,
) -> Result<IpAddr, UpgradeRefusal> {
    // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
    let peer = peer.to_canonical();
    if !proxies.trusts(peer) {
        return Ok(peer);
    }
    let named = match proxies.header {
        ClientIpHeader::XForwardedFor => client_ip::rightmost_x_forwarded_for(headers),
        ClientIpHeader::Forwarded => client_ip::rightmost_forwarded(headers),
    };
    named
        .map(|ip| ip.to_canonical())
        .map_err(|_| UpgradeRefusal::NoClientAddress)
}

/// Open connections per client address.
#[derive(Debug, Default)]
pub(crate) struct ConnectionSlots {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ConnectionSlots {
    /// A slot for one more connection from `ip`, if it has fewer than `max` open.
    pub(crate) fn take(
        self: &Arc<Self>,
        ip: IpAddr,
        max: usize,
    ) -> Result<ConnectionSlot, UpgradeRefusal> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= max {
            return Err(UpgradeRefusal::TooManyConnections);
        }
        *count += 1;
        Ok(ConnectionSlot {
            slots: Arc::clone(self),
            ip,
        })
    }

    fn give_back(&self, ip: IpAddr) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// One counted connection. The count goes down when this is dropped, however the connection
/// ends (a close, an error, a panic in its task, an upgrade that never completed), so no slot
/// leaks.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    slots: Arc<ConnectionSlots>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.slots.give_back(self.ip);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(name: &'static str, value: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_static(value));
        map
    }

    fn proxy() -> TrustedProxies {
        TrustedProxies {
            nets: vec!["10.0.0.0/8".parse().unwrap()],
            header: ClientIpHeader::XForwardedFor,
        }
    }

    #[test]
    fn an_untrusted_peer_is_its_own_address_whatever_it_sends() {
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let forged = headers("x-forwarded-for", "198.51.100.7");
        assert_eq!(client_ip(&proxy(), peer, &forged), Ok(peer));
    }

    #[test]
    fn a_trusted_proxy_names_the_client_in_the_rightmost_entry() {
        let peer: IpAddr = "10.1.2.3".parse().unwrap();
        let chain = headers("x-forwarded-for", "203.0.113.9, 198.51.100.7");
        assert_eq!(
            client_ip(&proxy(), peer, &chain),
            Ok("198.51.100.7".parse().unwrap())
        );
        let forwarded = TrustedProxies {
            header: ClientIpHeader::Forwarded,
            ..proxy()
        };
        let value = headers("forwarded", "for=203.0.113.9, for=\"[2001:db8::1]:4711\"");
        assert_eq!(
            client_ip(&forwarded, peer, &value),
            Ok("2001:db8::1".parse().unwrap())
        );
    }

    #[test]
    fn a_trusted_proxy_without_a_usable_header_is_refused() {
        let peer: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        for bad in [HeaderMap::new(), headers("x-forwarded-for", "not-an-ip")] {
            assert_eq!(
                client_ip(&proxy(), peer, &bad),
                Err(UpgradeRefusal::NoClientAddress)
            );
        }
    }

    #[test]
    fn a_dropped_slot_is_given_back() {
        let slots = Arc::new(ConnectionSlots::default());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = slots.take(ip, 1).unwrap();
        assert_eq!(
            slots.take(ip, 1).unwrap_err(),
            UpgradeRefusal::TooManyConnections
        );
        let other = slots.take("192.0.2.2".parse().unwrap(), 1);
        assert!(other.is_ok(), "the cap is per address");
        drop(first);
        assert!(slots.take(ip, 1).is_ok(), "the slot leaked");
    }
}
