#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// The clinic app on :0 with `dir` as its assets directory; its base URL.
async fn start(dir: &std::path::Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = Config {
        listen: listener.local_addr().unwrap(),
        connection: Some("nostr-ehr:npub1x?relay=wss://r".to_owned()),
        assets: Some(dir.to_path_buf()),
        lock_after_secs: Some(600),
        gateway: None,
        blossom: Vec::new(),
        relays: Vec::new(),
    };
    tokio::spawn(serve(listener, config, std::future::pending()));
    base
}

#[tokio::test]
async fn the_clinic_app_is_served_with_the_shared_modules_its_own_and_the_csp() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ehr_web_wasm.js"), "export default 1;\n").unwrap();
    std::fs::write(dir.path().join("ehr_web_wasm_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let base = start(dir.path()).await;
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'; script-src 'self' 'wasm-unsafe-eval';"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<title>Clinic</title>"), "{html}");
    assert!(html.contains(r#"content="600""#), "{html}");
    assert!(!html.contains("{{"), "{html}");
    // Its own modules and the shared ones; none of the portal's own.
    for (path, status) in [
        ("/app.js", 200),
        ("/patients.js", 200),
        ("/clinic-tabs.js", 200),
        ("/login.js", 200),
        ("/chart.js", 200),
        ("/writing.js", 200),
        ("/data/growth.json", 200),
        ("/data/medications.json", 200),
        ("/assets/ehr_web_wasm_bg.wasm", 200),
        ("/records.js", 404),
        ("/guardians.js", 404),
    ] {
        let response = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(response.status(), status, "{path}");
    }
}

#[tokio::test]
async fn the_reference_data_is_served_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let base = start(dir.path()).await;
    let response = reqwest::get(format!("{base}/data/vaccines.json"))
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let vaccines: Vec<serde_json::Value> = response.json().await.unwrap();
    assert!(vaccines.iter().any(|v| v["cvx"] == "08"));
}
