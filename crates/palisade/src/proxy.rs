//! Who is the client? The socket peer, unless the peer is a trusted proxy.
//!
//! With no trusted proxies configured (the default), no `X-Forwarded-For`, `X-Forwarded-Proto`,
//! `X-Real-IP` or `Forwarded` header is ever believed: the client address is the TCP peer. When
//! the peer is in a trusted range, the client is the right-most address of `X-Forwarded-For` that
//! is not itself a trusted proxy.
//!
//! [`ClientIpLayer`] stores the result as a [`ClientIp`] request extension for every later layer
//! and handler.
//!
//! ```
//! use palisade::proxy::{ClientIpLayer, TrustedProxies};
//!
//! let proxies = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1/32").unwrap();
//! let app: axum::Router = axum::Router::new().layer(ClientIpLayer::new(proxies));
//! # let _ = app;
//! ```

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use ipnet::IpNet;
use tower::{Layer, Service};

/// The set of proxy addresses whose forwarding headers are believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// No trusted proxy: forwarding headers are never believed.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses a comma- or space-separated CIDR list. A bare address means that one host.
    ///
    /// # Errors
    ///
    /// A message naming the entry that is neither a CIDR range nor an address.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in list
            .split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{item}` is not a CIDR range or IP address"))?;
            nets.push(net);
        }
        Ok(Self { nets })
    }

    /// True when no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// True when `ip` is inside a trusted range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client address for a request that arrived from `peer` with these headers.
    pub fn client_ip(&self, peer: IpAddr, headers: &http::HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        // Walk X-Forwarded-For from the right: each hop was appended by the proxy before it.
        let mut hops: Vec<IpAddr> = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(text) = value.to_str() else {
                return peer;
            };
            for part in text.split(',') {
                match part.trim().parse::<IpAddr>() {
                    Ok(ip) => hops.push(canonical(ip)),
                    // One unparsable hop makes the chain untrustworthy: stop at the proxy.
                    Err(_) => return peer,
                }
            }
        }
        hops.into_iter()
            .rev()
            .find(|ip| !self.contains(*ip))
            .unwrap_or(peer)
    }

    /// The `X-Forwarded-Proto` a trusted proxy reported, lower-cased.
    pub fn forwarded_proto(&self, peer: IpAddr, headers: &http::HeaderMap) -> Option<String> {
        if !self.contains(peer) {
            return None;
        }
        let value = headers.get("x-forwarded-proto")?.to_str().ok()?;
        Some(value.split(',').next_back()?.trim().to_ascii_lowercase())
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address as decided by [`ClientIpLayer`]. Also an extractor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(client_ip_of(parts))
    }
}

/// The [`ClientIp`] of a request, falling back to the socket peer and then to `0.0.0.0` when
/// neither the layer nor connection info is present (as in unit tests with `oneshot`).
pub fn client_ip_of(parts: &Parts) -> ClientIp {
    if let Some(ip) = parts.extensions.get::<ClientIp>() {
        return *ip;
    }
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| canonical(c.0.ip()));
    ClientIp(ip)
}

/// Decides the client address once per request and stores it as a [`ClientIp`] extension.
///
/// Needs `ConnectInfo<SocketAddr>` (serve with `into_make_service_with_connect_info`).
#[derive(Clone, Debug)]
pub struct ClientIpLayer {
    proxies: Arc<TrustedProxies>,
}

impl ClientIpLayer {
    /// A layer trusting forwarding headers only from `proxies`.
    pub fn new(proxies: TrustedProxies) -> Self {
        Self {
            proxies: Arc::new(proxies),
        }
    }
}

impl<S> Layer<S> for ClientIpLayer {
    type Service = ClientIpService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientIpService {
            inner,
            proxies: self.proxies.clone(),
        }
    }
}

/// The service made by [`ClientIpLayer`]; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct ClientIpService<S> {
    inner: S,
    proxies: Arc<TrustedProxies>,
}

impl<S> Service<Request> for ClientIpService<S>
where
    S: Service<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let ip = self.proxies.client_ip(peer, req.headers());
        req.extensions_mut().insert(ClientIp(ip));
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_headers_are_ignored_without_trusted_proxies() {
        let p = TrustedProxies::none();
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(p.client_ip(peer, &headers(&["1.2.3.4"])), peer);
        let mut h = headers(&[]);
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        assert_eq!(p.forwarded_proto(peer, &h), None);
    }

    #[test]
    fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
        let p = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(p.client_ip(peer, &headers(&["1.2.3.4"])), peer);
    }

    #[test]
    fn trusted_proxy_yields_rightmost_untrusted_hop() {
        let p = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        // The client forged the first entry; the proxies appended the rest.
        let h = headers(&["6.6.6.6, 198.51.100.7", "10.0.0.3"]);
        assert_eq!(
            p.client_ip(peer, &h),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn garbage_in_the_chain_falls_back_to_the_peer() {
        let p = TrustedProxies::parse("10.0.0.1").unwrap();
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(p.client_ip(peer, &headers(&["1.2.3.4, nonsense"])), peer);
    }

    #[test]
    fn mapped_ipv6_peers_match_ipv4_ranges() {
        let p = TrustedProxies::parse("127.0.0.1").unwrap();
        assert!(p.contains("::ffff:127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn bad_entries_are_named() {
        let err = TrustedProxies::parse("10.0.0.0/8, proxy.local").unwrap_err();
        assert!(err.contains("proxy.local"));
    }
}
