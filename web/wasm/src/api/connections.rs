//! The portal's connection strings (DESIGN.md §11): only a string signed by the practice root
//! key it names is accepted (`ehr_client::connection`), so a phishing string that swaps the
//! relay or the Blossom server, or is signed by another key, is refused with a warning.

use ehr_client::connection::Connection;
use ehr_client::keys;
use serde_json::json;

use super::ApiError;

/// Parse and verify a signed connection string: `{"practice": hex, "npub", "relay", "blossom",
/// "name", "connection"}` (`connection` is the string re-encoded, to remember it).
pub fn verify_connection(text: &str) -> Result<String, ApiError> {
    let connection = Connection::parse_signed(text)?;
    Ok(json!({
        "practice": connection.practice.to_hex(),
        "npub": keys::to_npub(&connection.practice),
        "relay": connection.relay,
        "blossom": connection.blossom,
        "name": connection.name,
        "connection": connection.to_string(),
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use ehr_client::keys::Identity;
    use serde_json::Value;

    use super::*;

    #[test]
    fn only_the_named_practices_signature_opens_a_connection() {
        let root = Identity::generate();
        let signed = Connection::new(root.public_key(), "wss://relay.example.org")
            .unwrap()
            .with_blossom("https://blobs.example.org")
            .unwrap()
            .with_name("Example Clinic")
            .sign(&root)
            .unwrap()
            .to_string();
        let ok: Value = serde_json::from_str(&verify_connection(&signed).unwrap()).unwrap();
        assert_eq!(ok["relay"], "wss://relay.example.org");
        assert_eq!(ok["blossom"], "https://blobs.example.org");
        assert_eq!(ok["name"], "Example Clinic");
        let phishing = signed.replace("relay.example.org", "relay.evil.example");
        let message = verify_connection(&phishing).unwrap_err().to_string();
        assert!(message.contains("phishing"), "{message}");
        let unsigned = Connection::new(root.public_key(), "wss://relay.example.org")
            .unwrap()
            .to_string();
        assert!(
            verify_connection(&unsigned)
                .unwrap_err()
                .to_string()
                .contains("not signed")
        );
    }
}
