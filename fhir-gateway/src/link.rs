//! Whether the gateway still follows the relay, and whether it may serve.
//!
//! The gateway answers from a snapshot the follower keeps current. While the follower cannot
//! reach the relay (or the relay refuses it), nothing tells the gateway that a consent was
//! withdrawn, a chart key rotated away, or the gateway itself revoked. So the snapshot is
//! served only while the link is up, or down for less than the configured bound
//! (`relay_outage_seconds`); past it, and at once when the relay refuses the gateway or the
//! practice removed it from its roster, every data request gets 503 until a catch-up completes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::GatewayState;
use crate::error::GatewayError;

/// The follower's link to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Caught up, and following the live subscription.
    Following,
    /// Disconnected, or refused by the relay, since this instant.
    Lost(Instant),
    /// The relay refused the gateway (`restricted:`/`blocked:`, failed AUTH), or the verified
    /// roster no longer names its key as the practice's gateway.
    Refused,
}

impl Link {
    /// May the snapshot be served at `now`, given the outage `bound`?
    pub fn may_serve(self, now: Instant, bound: Duration) -> bool {
        match self {
            Self::Following => true,
            Self::Lost(since) => now.saturating_duration_since(since) < bound,
            Self::Refused => false,
        }
    }
}

/// The sending half, held by the follower.
#[derive(Debug, Clone)]
pub struct LinkSender(Arc<watch::Sender<Link>>);

impl LinkSender {
    /// A link that starts as `Following` (the gateway starts only after a first catch-up).
    pub fn new() -> (Self, watch::Receiver<Link>) {
        let (sender, receiver) = watch::channel(Link::Following);
        (Self(Arc::new(sender)), receiver)
    }

    /// The follower caught up again.
    pub fn following(&self) {
        self.0.send_replace(Link::Following);
    }

    /// The connection failed or was refused; an outage already running keeps its start.
    pub fn lost(&self) {
        self.0.send_if_modified(|link| match link {
            Link::Following => {
                *link = Link::Lost(Instant::now());
                true
            }
            Link::Lost(_) | Link::Refused => false,
        });
    }

    /// The relay refused the gateway, or the roster no longer names it.
    pub fn refused(&self) {
        self.0.send_replace(Link::Refused);
    }
}

/// Whether `error` is the relay refusing this gateway (as opposed to the network failing):
/// a subscription closed or an AUTH refused with `restricted:`, `blocked:` or `auth-required:`.
pub fn is_refusal(error: &GatewayError) -> bool {
    use ehr_client::net::NetError;
    let refused = |message: &str| {
        ["restricted:", "blocked:", "auth-required:"]
            .iter()
            .any(|prefix| message.starts_with(prefix))
    };
    match error {
        GatewayError::Relay(NetError::AuthFailed(_)) => true,
        GatewayError::Relay(NetError::Closed(message)) => refused(message),
        _ => false,
    }
}

/// Middleware on every route that serves patient data: 503 with an OperationOutcome while the
/// link has been lost longer than the bound, or the relay refused the gateway.
pub async fn require_link(
    State(state): State<Arc<GatewayState>>,
    request: Request,
    next: Next,
) -> Result<Response, GatewayError> {
    let link = *state.link.borrow();
    if link.may_serve(Instant::now(), state.config.relay_outage_bound) {
        Ok(next.run(request).await)
    } else if link == Link::Refused {
        Err(GatewayError::Unavailable(
            "the practice relay refuses this gateway, or its roster no longer names it",
        ))
    } else {
        Err(GatewayError::Unavailable(
            "the gateway has lost the practice relay and serves nothing until it has caught up",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn following_serves() {
        assert!(Link::Following.may_serve(Instant::now(), Duration::ZERO));
    }

    #[test]
    fn a_short_outage_still_serves_within_the_bound() {
        let now = Instant::now();
        assert!(Link::Lost(now).may_serve(now + Duration::from_secs(59), Duration::from_secs(60)));
    }

    #[test]
    fn an_outage_past_the_bound_stops_serving() {
        let now = Instant::now();
        assert!(!Link::Lost(now).may_serve(now + Duration::from_secs(60), Duration::from_secs(60)));
    }

    #[test]
    fn a_refused_gateway_never_serves() {
        assert!(!Link::Refused.may_serve(Instant::now(), Duration::from_secs(3600)));
    }

    #[test]
    fn a_closed_subscription_saying_restricted_is_a_refusal() {
        let closed = ehr_client::net::NetError::Closed("restricted: no longer a member".into());
        assert!(is_refusal(&GatewayError::Relay(closed)));
        assert!(!is_refusal(&GatewayError::Relay(
            ehr_client::net::NetError::Disconnected
        )));
    }

    #[test]
    fn an_outage_keeps_its_start_until_caught_up() {
        let (sender, receiver) = LinkSender::new();
        sender.lost();
        let first = *receiver.borrow();
        sender.lost();
        assert_eq!(*receiver.borrow(), first);
        sender.following();
        assert_eq!(*receiver.borrow(), Link::Following);
    }
}
