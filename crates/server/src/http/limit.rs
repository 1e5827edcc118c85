//! Per-client limits (governor's GCRA, keyed): a client is its token when it sends one the
//! server knows, else its address (an IPv6 client by its /64), so clients behind one proxy
//! are told apart by their tokens, and a flood of made-up tokens counts against its
//! address. Past the limit: 429 with `Retry-After`. `/healthz` is never limited. Also the
//! request timeout: a request not answered in time (a body that trickles) gets 408.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::app::{App, AppError, Caller, access};
use crate::config::Rate;

/// Who a request counts against.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Client {
    Token(String),
    Addr(IpAddr),
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Client::Token(name) => write!(f, "token `{name}`"),
            Client::Addr(ip) => write!(f, "address {ip}"),
        }
    }
}

/// A caller the limiter already authenticated, for the `Auth` extractor to reuse.
#[derive(Clone)]
pub struct Authenticated(pub Caller);

pub struct Limiter {
    limiter: DefaultKeyedRateLimiter<Client>,
    rate: Rate,
}

impl Limiter {
    pub fn new(rate: Rate) -> Arc<Limiter> {
        let requests = NonZeroU32::new(rate.requests).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rate.burst).unwrap_or(requests);
        let quota = Quota::with_period(rate.per / requests.get()).unwrap_or_else(|| Quota::per_second(requests));
        Arc::new(Limiter { limiter: RateLimiter::keyed(quota.allow_burst(burst)), rate })
    }

    /// Forgets clients that have been quiet long enough to be back at a full burst.
    pub async fn forget_quiet_clients(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            }
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
    }

    fn check(&self, client: &Client) -> Result<(), AppError> {
        self.limiter.check_key(client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let per = humantime::format_duration(self.rate.per);
            AppError::TooManyRequests {
                retry_after: wait,
                message: format!(
                    "too many requests from {client}: at most {} per {per} (bursts of {}); retry in {:.1}s",
                    self.rate.requests,
                    self.rate.burst,
                    wait.as_secs_f64()
                ),
            }
        })
    }
}

/// An IPv6 client is its /64: one host owns many addresses of its prefix.
fn client_addr(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1)))
        }
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

pub async fn per_client(
    State((app, limiter)): State<(Arc<App>, Option<Arc<Limiter>>)>,
    mut req: Request,
    next: Next,
) -> Response {
    // Terraform's state calls come from this server's own jobs, each with its run's token.
    let exempt = |path: &str| path == "/healthz" || path.starts_with("/terraform/state/");
    let Some(limiter) = limiter.filter(|_| !exempt(req.uri().path())) else {
        return next.run(req).await;
    };
    let token = super::extract::bearer(req.headers()).ok().flatten().map(str::to_string);
    let caller = match token {
        Some(t) => access::authenticate(&app, Some(&t)).await.ok(),
        None => None,
    };
    let client = match &caller {
        Some(c) => Client::Token(c.name.clone()),
        None => {
            let ip = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
            Client::Addr(client_addr(ip.unwrap_or(IpAddr::from([0, 0, 0, 0]))))
        }
    };
    if let Err(e) = limiter.check(&client) {
        return e.into_response();
    }
    if let Some(c) = caller {
        req.extensions_mut().insert(Authenticated(c));
    }
    next.run(req).await
}

/// 408 for a request not answered within `timeout` (its body included).
pub async fn request_timeout(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => AppError::TimedOut { after: timeout }.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_its_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(client_addr(a), client_addr(b));
        assert_eq!(client_addr("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(client_addr("10.0.0.1".parse().unwrap()), "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn past_the_burst_a_client_is_told_when_to_come_back() {
        let limiter = Limiter::new(Rate { requests: 1, per: Duration::from_secs(60), burst: 2 });
        let me = Client::Token("me".into());
        assert!(limiter.check(&me).is_ok());
        assert!(limiter.check(&me).is_ok());
        match limiter.check(&me) {
            Err(AppError::TooManyRequests { retry_after, message }) => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(60), "{retry_after:?}");
                assert!(message.contains("token `me`"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(limiter.check(&Client::Token("other".into())).is_ok(), "each client has its own budget");
    }
}
