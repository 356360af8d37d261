#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;

/// A portal on :0 with `dir` as its assets directory; its base URL.
async fn start(dir: &std::path::Path, connection: Option<&str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = Config {
        listen: listener.local_addr().unwrap(),
        connection: connection.map(str::to_owned),
        assets: Some(dir.to_path_buf()),
        lock_after_secs: None,
        gateway: None,
        blossom: Vec::new(),
        relays: Vec::new(),
    };
    tokio::spawn(serve(listener, config, std::future::pending()));
    base
}

fn built() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ehr_web_wasm.js"), "export default 1;\n").unwrap();
    std::fs::write(dir.path().join("ehr_web_wasm_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    dir
}

#[tokio::test]
async fn the_app_and_its_webassembly_are_served_with_types_validators_and_the_csp() {
    let dir = built();
    let base = start(dir.path(), Some("nostr-ehr:npub1x?relay=wss://r<script>")).await;
    let http = reqwest::Client::new();

    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    // The connection string is offered, escaped.
    assert!(html.contains("wss://r&lt;script&gt;"), "{html}");
    // No inline script, handler or style: the CSP would refuse them anyway.
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "{html}"
    );
    for handler in ["onclick", "onload", "onsubmit", "onerror", "oninput"] {
        assert!(!html.contains(handler), "{html}");
    }
    assert!(html.contains(r#"<script type="module" src="/app.js"></script>"#));

    for directive in [
        "default-src 'none'",
        "script-src 'self' 'wasm-unsafe-eval';",
        "style-src 'self';",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp} lacks {directive}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"));

    for (path, content_type) in [
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/icon.svg", "image/svg+xml"),
        ("/assets/ehr_web_wasm.js", "text/javascript; charset=utf-8"),
        ("/assets/ehr_web_wasm_bg.wasm", "application/wasm"),
    ] {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-cache");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let etag = response.headers()["etag"].clone();
        let again = http
            .get(format!("{base}{path}"))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
    }
    let wasm = http
        .get(format!("{base}/assets/ehr_web_wasm_bg.wasm"))
        .send()
        .await
        .unwrap();
    assert_eq!(&wasm.bytes().await.unwrap()[..4], b"\0asm");

    let missing = http.get(format!("{base}/assets/../Cargo.toml")).send();
    assert_eq!(missing.await.unwrap().status(), 404);
    let post = http.post(format!("{base}/")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok\n");
}

#[tokio::test]
async fn without_the_webassembly_the_page_says_how_to_build_it() {
    let empty = tempfile::tempdir().unwrap();
    let base = start(empty.path(), None).await;
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.status(), 503);
    assert!(page.headers().contains_key("content-security-policy"));
    let html = page.text().await.unwrap();
    assert!(html.contains("scripts/build-web"), "{html}");
    let wasm = reqwest::get(format!("{base}/assets/ehr_web_wasm_bg.wasm"))
        .await
        .unwrap();
    assert_eq!(wasm.status(), 404);
}

#[tokio::test]
async fn the_page_carries_the_session_lock_time() {
    let dir = built();
    let base = start(dir.path(), None).await;
    let html = reqwest::get(format!("{base}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Fifteen minutes unless configured; no placeholder left for the app to misread.
    assert!(
        html.contains(r#"<meta name="ehr-lock-after" content="900">"#),
        "{html}"
    );
    assert!(!html.contains("{{"), "{html}");
    for module in ["/login.js", "/nip46.js", "/passkey.js"] {
        let response = reqwest::get(format!("{base}{module}")).await.unwrap();
        assert_eq!(response.status(), 200, "{module}");
    }
}

#[tokio::test]
async fn the_viewer_has_its_own_page_and_may_post_to_any_https_manifest_and_the_gateway() {
    let dir = built();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = Config {
        listen: listener.local_addr().unwrap(),
        connection: None,
        assets: Some(dir.path().to_path_buf()),
        lock_after_secs: None,
        gateway: Some("http://127.0.0.1:8090/fhir".to_owned()),
        blossom: Vec::new(),
        relays: Vec::new(),
    };
    tokio::spawn(serve(listener, config, std::future::pending()));
    let http = reqwest::Client::new();
    let viewer = http.get(format!("{base}/viewer")).send().await.unwrap();
    assert_eq!(viewer.status(), 200);
    assert_eq!(viewer.headers()["content-type"], "text/html; charset=utf-8");
    let csp = viewer.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("connect-src 'self' https: http://127.0.0.1:8090;"),
        "{csp}"
    );
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval';"),
        "{csp}"
    );
    let html = viewer.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="/viewer.js"></script>"#));
    assert!(
        html.contains(r#"content="http://127.0.0.1:8090/fhir""#),
        "{html}"
    );
    // The app's page keeps its own policy (sockets to relays, no https: wildcard).
    let page = http.get(format!("{base}/")).send().await.unwrap();
    let app_csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        app_csp.contains("connect-src 'self' ws: wss: http://127.0.0.1:8090;"),
        "{app_csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<meta name="ehr-gateway" content="http://127.0.0.1:8090/fhir">"#),
        "{html}"
    );
}
