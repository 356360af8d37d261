//! SMART Backend Services (SMART App Launch 2.x, "backend services"): `client_credentials` with a
//! `private_key_jwt` client assertion signed RS384 or ES384 by a key in the client's registered
//! JWKS. The answer is a short-lived bearer token holding the granted `system/` scopes; which
//! patients it reaches is still decided per request by each patient's consent.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::GatewayState;
use crate::error::GatewayError;
use crate::scopes::{EMERGENCY_SCOPE, covered};

/// `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Lifetime of an access token, in seconds.
pub const TOKEN_LIFETIME: i64 = 300;

/// Longest an assertion may live (`exp` after now), as SMART requires.
const MAX_ASSERTION_LIFETIME: i64 = 300;

/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY: u64 = 60;

/// Smallest RSA modulus accepted at registration, in bits.
const MIN_RSA_BITS: usize = 2048;

/// The token endpoint under a FHIR base URL.
pub fn token_url(base: &str) -> String {
    format!("{base}/auth/token")
}

fn refuse(error: &'static str, description: &'static str) -> GatewayError {
    GatewayError::OAuth { error, description }
}

/// `GET /fhir/.well-known/smart-configuration`.
pub async fn configuration(State(state): State<Arc<GatewayState>>) -> Response {
    let body = json!({
        "token_endpoint": token_url(&state.base),
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": ["system/*.read", "system/*.rs", EMERGENCY_SCOPE],
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
    });
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// The RS384 or ES384 algorithm a registered key signs with, if it is usable at all.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let modulus = URL_SAFE_NO_PAD.decode(&rsa.n).ok()?;
            let bits = modulus.iter().skip_while(|b| **b == 0).count() * 8;
            (bits >= MIN_RSA_BITS).then_some(Algorithm::RS384)
        }
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P384 => {
            Some(Algorithm::ES384)
        }
        _ => None,
    }
}

/// Check a JWKS offered at registration: public RSA (2048 bits or more) or P-384 keys only,
/// each with a unique `kid`, and no private members.
/// The key set of a client registered for API keys only: no key, so no assertion it signs can
/// ever verify at the token endpoint.
pub fn no_keys() -> Value {
    serde_json::json!({ "keys": [] })
}

pub fn check_jwks(jwks: &Value) -> Result<(), GatewayError> {
    let bad = |why: &str| GatewayError::Unprocessable(format!("jwks: {why}"));
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .filter(|keys| !keys.is_empty())
        .ok_or_else(|| bad("a JWKS object with a non-empty `keys` array is required"))?;
    for key in keys {
        if ["d", "p", "q", "dp", "dq", "qi", "k", "oth"]
            .iter()
            .any(|private| key.get(private).is_some())
        {
            return Err(bad(
                "a key holds private members; register public keys only",
            ));
        }
    }
    let set = JwkSet::deserialize(jwks).map_err(|_| bad("a key is not a valid JWK"))?;
    let mut kids = std::collections::BTreeSet::new();
    for jwk in &set.keys {
        let kid = jwk
            .common
            .key_id
            .as_deref()
            .filter(|kid| !kid.is_empty())
            .ok_or_else(|| bad("every key needs a `kid`"))?;
        if !kids.insert(kid) {
            return Err(bad("two keys share a `kid`"));
        }
        if algorithm_of(jwk).is_none() || DecodingKey::from_jwk(jwk).is_err() {
            return Err(bad(
                "keys must be RSA of 2048 bits or more (RS384) or EC P-384 (ES384)",
            ));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct AssertionClaims {
    exp: i64,
    #[serde(default)]
    jti: String,
}

/// The `iss` of an assertion, read before its key is known (only to find the key).
fn claimed_issuer(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

fn jwt_refusal(kind: &ErrorKind) -> GatewayError {
    let description = match kind {
        ErrorKind::InvalidSignature => "the client assertion's signature does not verify",
        ErrorKind::ExpiredSignature => "the client assertion has expired",
        ErrorKind::InvalidAudience => "the client assertion's aud is not this token endpoint",
        ErrorKind::InvalidIssuer => "the client assertion's iss is not the client id",
        ErrorKind::InvalidSubject => "the client assertion's sub is not the client id",
        ErrorKind::MissingRequiredClaim(_) => "the client assertion lacks iss, sub, aud or exp",
        ErrorKind::InvalidAlgorithm => "the client assertion's alg does not match the key",
        _ => "the client assertion is not a valid JWT",
    };
    refuse("invalid_client", description)
}

/// `POST /fhir/auth/token`: the client credentials grant.
pub async fn token(
    State(state): State<Arc<GatewayState>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, GatewayError> {
    let body = body?;
    let mut grant_type = None;
    let mut assertion_type = None;
    let mut assertion = None;
    let mut scope = None;
    for (name, value) in form_urlencoded::parse(&body) {
        let slot = match name.as_ref() {
            "grant_type" => &mut grant_type,
            "client_assertion_type" => &mut assertion_type,
            "client_assertion" => &mut assertion,
            "scope" => &mut scope,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(refuse("invalid_request", "a parameter appears twice"));
        }
    }
    if grant_type.as_deref() != Some("client_credentials") {
        return Err(refuse(
            "unsupported_grant_type",
            "only grant_type=client_credentials is supported",
        ));
    }
    if assertion_type.as_deref() != Some(ASSERTION_TYPE) {
        return Err(refuse(
            "invalid_request",
            "client_assertion_type must be jwt-bearer (private_key_jwt)",
        ));
    }
    let assertion =
        assertion.ok_or_else(|| refuse("invalid_request", "client_assertion is required"))?;
    let scope = scope.ok_or_else(|| refuse("invalid_request", "scope is required"))?;

    let header = jsonwebtoken::decode_header(&assertion)
        .map_err(|_| refuse("invalid_client", "the client assertion is not a JWT"))?;
    let kid = header
        .kid
        .as_deref()
        .ok_or_else(|| refuse("invalid_client", "the client assertion has no kid"))?;
    let client_id = claimed_issuer(&assertion)
        .ok_or_else(|| refuse("invalid_client", "the client assertion has no iss"))?;
    let client = state
        .store
        .smart_client(&client_id)
        .await?
        .filter(|c| c.revoked_at.is_none())
        .ok_or_else(|| refuse("invalid_client", "no such client, or it was revoked"))?;
    let jwks = JwkSet::deserialize(&client.jwks).map_err(|_| {
        refuse(
            "invalid_client",
            "the client's registered keys are unusable",
        )
    })?;
    let jwk = jwks
        .find(kid)
        .ok_or_else(|| refuse("invalid_client", "no registered key has this kid"))?;
    // The algorithm comes from the registered key, never from the token's header alone.
    let algorithm = algorithm_of(jwk)
        .ok_or_else(|| refuse("invalid_client", "the registered key is not RS384 or ES384"))?;
    if header.alg != algorithm {
        return Err(refuse(
            "invalid_client",
            "the client assertion's alg does not match the key",
        ));
    }
    let key = DecodingKey::from_jwk(jwk)
        .map_err(|_| refuse("invalid_client", "the registered key is unusable"))?;
    let mut validation = Validation::new(algorithm);
    validation.leeway = LEEWAY;
    validation.set_audience(&[token_url(&state.base)]);
    validation.set_issuer(&[&client.client_id]);
    validation.sub = Some(client.client_id.clone());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let claims = jsonwebtoken::decode::<AssertionClaims>(&assertion, &key, &validation)
        .map_err(|e| jwt_refusal(e.kind()))?
        .claims;
    let now = crate::routes::now();
    if claims.exp > now + MAX_ASSERTION_LIFETIME + i64::try_from(LEEWAY).unwrap_or(0) {
        return Err(refuse(
            "invalid_client",
            "the client assertion may live at most five minutes",
        ));
    }
    if claims.jti.is_empty() || claims.jti.len() > 256 {
        return Err(refuse("invalid_client", "the client assertion needs a jti"));
    }
    if !state
        .store
        .claim_assertion(&client.client_id, &claims.jti, claims.exp + 120, now)
        .await?
    {
        return Err(refuse(
            "invalid_client",
            "the client assertion was used before (jti replayed)",
        ));
    }

    let granted: Vec<String> = scope
        .split(' ')
        .filter(|s| covered(&client.scopes, s))
        .map(str::to_owned)
        .collect();
    if granted.is_empty() {
        return Err(refuse(
            "invalid_scope",
            "none of the requested scopes is registered for this client",
        ));
    }
    if granted.len() > 1 && granted.iter().any(|s| s == EMERGENCY_SCOPE) {
        return Err(refuse(
            "invalid_scope",
            "the emergency scope is granted alone: request it in a token of its own",
        ));
    }
    let access_token = state
        .store
        .issue_access_token(&client.client_id, &granted, now, now + TOKEN_LIFETIME)
        .await?
        .ok_or_else(|| refuse("invalid_client", "no such client, or it was revoked"))?;
    tracing::info!(client = %client.client_id, scopes = %granted.join(" "), "issued an access token");
    let mut response = axum::Json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": TOKEN_LIFETIME,
        "scope": granted.join(" "),
    }))
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}
