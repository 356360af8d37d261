//! Which inbox relays a recipient's kind 10050 list may send the bot to.
//!
//! Anyone can publish a 10050 list, so a list naming `ws://127.0.0.1:5432` or an address on the
//! practice's own network would make the bot connect there for whoever wrote it (server-side
//! request forgery). Unless `delivery.allow_private_dm_relays` is set, a listed relay is used
//! only when it is `wss://` and every address it has is public: an IP literal is checked as
//! written, a host name is resolved and each address it resolves to is checked, all before
//! any connection. The practice relay itself (`relay_url`) is the operator's choice and always
//! used. The resolver is asked again when the connection is made, so a name whose answers
//! change between the two looks (DNS rebinding) is not covered by this check alone.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::Config;

/// Why the bot will not connect to `url` from a recipient's inbox list, or `None` when it may.
/// The reason is recorded with the delivery attempt; it names the rule, not the address.
pub async fn refusal(config: &Config, url: &str) -> Option<&'static str> {
    if config.delivery.allow_private_dm_relays
        || ehr_service::config::same_relay_url(url, &config.relay_url)
    {
        return None;
    }
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Some("blocked: the inbox relay is not a valid URL");
    };
    if parsed.scheme() != "wss" {
        return Some("blocked: only wss:// inbox relays are used");
    }
    let Some(host) = parsed.host_str() else {
        return Some("blocked: the inbox relay URL names no host");
    };
    let port = parsed.port_or_known_default().unwrap_or(443);
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let addresses: Vec<IpAddr> = match literal.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let lookup = tokio::net::lookup_host((host, port));
            match tokio::time::timeout(config.relay_timeout, lookup).await {
                Ok(Ok(found)) => found.map(|address| address.ip()).collect(),
                _ => Vec::new(),
            }
        }
    };
    if addresses.is_empty() {
        return Some("blocked: the inbox relay's host name does not resolve");
    }
    if !addresses.into_iter().all(is_public) {
        return Some(
            "blocked: the inbox relay is on a loopback, private, link-local or other non-public address",
        );
    }
    None
}

/// Whether `ip` is a public unicast address a relay may have.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0 // "this network"
        || a == 10 // private
        || a == 127 // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 169 && b == 254) // link-local
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && (c == 0 || c == 2)) // protocol assignments, documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved, broadcast
    !special
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let embedded = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    let [s0, s1, s2, s3, s4, s5, s6, s7] = ip.segments();
    // An IPv4 address carried in IPv6 is judged as that IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    if (s0, s1, s2, s3, s4, s5) == (0x64, 0xff9b, 0, 0, 0, 0) {
        return public_v4(embedded(s6, s7)); // NAT64
    }
    if s0 == 0x2002 {
        return public_v4(embedded(s1, s2)); // 6to4
    }
    // Global unicast (2000::/3) only: loopback, unspecified, unique-local, link-local,
    // site-local and multicast all lie outside it.
    (s0 & 0xe000) == 0x2000
        && !(s0 == 0x2001 && s1 < 0x0200) // protocol assignments: Teredo, ORCHID, benchmarking
        && !(s0 == 0x2001 && s1 == 0x0db8) // documentation
        && !(s0 == 0x3fff && s1 < 0x1000) // documentation
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_public_unicast_addresses_pass() {
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "0.0.0.0",
            "10.0.0.1",
            "127.0.0.1",
            "127.1.2.3",
            "100.64.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:0a00:0001::1",
            "2001::1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
    }
}
