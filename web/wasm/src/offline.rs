//! The clinic app offline (`clinic/web/offline.js`): the device cache's sealing
//! (`ehr_client::local_cache`) and NIP-77 reconciliation (`ehr_client::reconcile`), for the page.

use ehr_client::local_cache::CacheKey;
use ehr_client::nostr::prelude::Event;
use wasm_bindgen::prelude::*;

/// One login's device cache key, held in WebAssembly (`free()` zeroes it).
#[wasm_bindgen]
#[derive(Debug)]
pub struct LocalCache {
    key: CacheKey,
}

#[wasm_bindgen]
impl LocalCache {
    /// A new random key.
    pub fn generate() -> Result<LocalCache, JsError> {
        Ok(Self {
            key: CacheKey::generate().map_err(|e| JsError::new(&e.to_string()))?,
        })
    }

    /// The key from its hex form (opened from the member's seal to herself).
    #[wasm_bindgen(js_name = fromHex)]
    pub fn from_hex(hex: &str) -> Result<LocalCache, JsError> {
        Ok(Self {
            key: CacheKey::from_hex(hex).map_err(|e| JsError::new(&e.to_string()))?,
        })
    }

    /// The key's hex form, to seal to the member (NIP-44 to her own key).
    #[wasm_bindgen(js_name = keyHex)]
    pub fn key_hex(&self) -> String {
        self.key.to_hex().to_string()
    }

    /// The opaque id entry `name` is stored under.
    #[wasm_bindgen(js_name = entryId)]
    pub fn entry_id(&self, name: &str) -> String {
        self.key.entry_id(name)
    }

    /// `text` sealed as entry `name`.
    pub fn seal(&self, name: &str, text: &str) -> Result<String, JsError> {
        self.key
            .seal(name, text.as_bytes())
            .map_err(|e| JsError::new(&e.to_string()))
    }

    /// The text of entry `name`, sealed under this key.
    pub fn open(&self, name: &str, sealed: &str) -> Result<String, JsError> {
        let plain = self
            .key
            .open(name, sealed)
            .map_err(|e| JsError::new(&e.to_string()))?;
        String::from_utf8(plain.to_vec()).map_err(|_| JsError::new("the cache entry is not text"))
    }
}

/// A NIP-77 reconciliation of the events the page holds for one filter.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Reconciliation {
    session: ehr_client::reconcile::Reconciliation,
    initial: String,
}

#[wasm_bindgen]
impl Reconciliation {
    /// Start over `events` (a JSON array of the events held for the filter).
    #[wasm_bindgen(constructor)]
    pub fn new(events: &str) -> Result<Reconciliation, JsError> {
        let events: Vec<Event> = serde_json::from_str(events)
            .map_err(|_| JsError::new("events must be a JSON array of Nostr events"))?;
        let (session, initial) = ehr_client::reconcile::Reconciliation::start(&events)
            .map_err(|e| JsError::new(&e.to_string()))?;
        Ok(Self { session, initial })
    }

    /// The hex message for `NEG-OPEN`.
    pub fn initial(&self) -> String {
        self.initial.clone()
    }

    /// Answer the relay's `NEG-MSG` (hex): `{"next": hex or null, "have": [ids], "need":
    /// [ids]}` (hex event ids).
    pub fn step(&mut self, message: &str) -> Result<String, JsError> {
        let step = self
            .session
            .step(message)
            .map_err(|e| JsError::new(&e.to_string()))?;
        let ids = |ids: &[ehr_client::nostr::prelude::EventId]| -> Vec<String> {
            ids.iter().map(|id| id.to_hex()).collect()
        };
        Ok(serde_json::json!({
            "next": step.next,
            "have": ids(&step.have),
            "need": ids(&step.need),
        })
        .to_string())
    }
}
