//! Crafting tokens for tests: valid ones through the gateway's own minting, and every kind
//! of bad one (wrong algorithm, key, issuer, audience, times) signed by hand.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

/// The HS256 secret every test gateway signs with.
pub const TEST_SIGNING_SECRET: &str = "test-signing-secret-0123456789abcdef-0123456789";
pub const ISSUER: &str = "cloro-gateway";
pub const AUDIENCE: &str = "cloro-gateway";

pub const RSA_PRIVATE_PEM: &str = include_str!("../fixtures/rsa_private.pem");
pub const RSA_PUBLIC_PEM: &str = include_str!("../fixtures/rsa_public.pem");
pub const EC_PRIVATE_PEM: &str = include_str!("../fixtures/ec_private.pem");
pub const EC_PUBLIC_PEM: &str = include_str!("../fixtures/ec_public.pem");

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Claims of a valid team token for `team`, to be altered by a test.
pub fn team_claims(team: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": format!("test:{team}"),
        "role": "team",
        "team": team,
        "jti": uuid::Uuid::now_v7().to_string(),
        "iat": now(),
        "nbf": now(),
        "exp": now() + 3600,
    })
}

/// Signs `claims` with HS256 and `secret`, optionally naming a `kid`.
pub fn sign_hs256(claims: &Value, secret: &[u8], kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    let key = EncodingKey::from_secret(secret).expect("hmac key");
    encode(&header, claims, &key).expect("sign")
}

pub fn sign_rs256(claims: &Value, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).expect("rsa key");
    encode(&header, claims, &key).expect("sign")
}

pub fn sign_es256(claims: &Value, kid: &str) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()).expect("ec key");
    encode(&header, claims, &key).expect("sign")
}

/// An unsigned token with `alg: none`.
pub fn unsigned(claims: &Value) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{body}.")
}

/// A JWKS document holding the test EC public key under `kid`.
pub fn ec_jwks(kid: &str) -> Value {
    let key = EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()).expect("ec key");
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::ES256).expect("jwk");
    jwk.common.key_id = Some(kid.to_owned());
    json!({ "keys": [jwk] })
}
