//! A member's NIP-17 inbox on a relay, as the tests read it.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use ehr_client::dm::{self, DirectMessage};
use ehr_client::keys::Identity;
use ehr_client::net::{Followed, RelayClient};
use nostr::prelude::{Event, EventId, Filter, Kind};

/// Wait (bounded, 20 s) until `who` holds `count` messages on `relay_url`: one subscription,
/// stored wraps first and then new ones as the relay delivers them (no polling). They are
/// returned opened, with their wraps, every stored one, oldest first.
pub async fn messages_for(
    relay_url: &str,
    who: &Identity,
    count: usize,
) -> anyhow::Result<Vec<(Event, DirectMessage)>> {
    let client = RelayClient::connect(relay_url, who, Duration::from_secs(10)).await?;
    let mut following = client.follow(vec![
        Filter::new().kind(Kind::GiftWrap).pubkey(who.public_key()),
    ])?;
    let mut wraps: HashMap<EventId, Event> = HashMap::new();
    let mut caught = false;
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while !caught || wraps.len() < count {
            match following.next().await? {
                Followed::Event(wrap) => {
                    let wrap = wrap.into_event();
                    wraps.insert(wrap.id, wrap);
                }
                Followed::Caught => caught = true,
            }
        }
        anyhow::Ok(())
    })
    .await
    .context("the messages did not arrive within 20 s");
    client.disconnect().await;
    waited??;
    let mut opened = Vec::with_capacity(wraps.len());
    for wrap in wraps.into_values() {
        let message = dm::open(who, &wrap).context("a gift wrap did not open")?;
        opened.push((wrap, message));
    }
    opened.sort_by_key(|(_, m)| (m.created_at, m.subject.clone()));
    Ok(opened)
}
