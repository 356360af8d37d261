//! The exports of [`crate::api::clinic::files`]: a file sealed in the browser for upload.

use wasm_bindgen::prelude::*;

use crate::api::clinic::files::Upload;

/// A file encrypted in WebAssembly for upload to Blossom; its key stays here until the
/// DocumentReference is built (`free()` drops it).
#[wasm_bindgen]
#[derive(Debug)]
pub struct SealedUpload {
    upload: Upload,
}

#[wasm_bindgen]
impl SealedUpload {
    /// Encrypt `bytes` under a new key.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> Result<SealedUpload, JsError> {
        Ok(Self {
            upload: Upload::seal(bytes)?,
        })
    }

    /// The ciphertext to upload.
    pub fn blob(&self) -> Vec<u8> {
        self.upload.blob().to_vec()
    }

    /// Its sha256, hex (the `X-SHA-256` header and the Blossom address).
    pub fn sha256(&self) -> String {
        self.upload.sha256().to_owned()
    }

    /// The unsigned BUD-11 upload token for `author`'s signer and the server at `server`.
    #[wasm_bindgen(js_name = uploadTemplate)]
    pub fn upload_template(&self, author: &str, server: &str, now: f64) -> Result<String, JsError> {
        Ok(self.upload.upload_template(author, server, now)?)
    }

    /// The DocumentReference (FHIR JSON) of the uploaded file at `url`.
    pub fn document(
        &self,
        chart: &str,
        url: &str,
        content_type: &str,
        title: &str,
        date: &str,
    ) -> Result<String, JsError> {
        Ok(self
            .upload
            .document(chart, url, content_type, title, date)?)
    }
}
