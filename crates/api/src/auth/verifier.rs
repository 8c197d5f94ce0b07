//! Verifying a bearer JWT: allow-listed algorithm bound to its key, signature, `exp`/`nbf`
//! with leeway, the key's `iss` and `aud`, then the role, team, subject and `jti` claims
//! against what the key's policy grants, and the lifetime cap of admin and finance tokens.
//! Every rejection has its own error code so a caller learns precisely what was wrong.

use crate::auth::jwks::JwksSource;
use crate::auth::key_policy::KeyPolicy;
use crate::auth::key_policy::PolicyRefusal;
use crate::auth::keys::{KeySet, VerificationKey, parse_algorithm};
use crate::auth::verified_cache::VerifiedCache;
use crate::config::AuthSettings;
use crate::error::{ApiError, ErrorCode};
use accounting::Role;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::RwLock;

/// Longest `jti` accepted (the revocation table's bound).
pub const MAX_JTI_CHARS: usize = 200;

/// What a valid token says about its holder, before the team is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub subject: String,
    pub role: Role,
    pub team_slug: Option<String>,
    /// The issuer it was verified under: revocations and cut-offs are per issuer.
    pub issuer: String,
    pub jti: String,
    /// `iat`, when the token has one (a subject's cut-off refuses tokens without it).
    pub issued_at: Option<i64>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
}

pub struct Verifier {
    role_claim: String,
    leeway_secs: u64,
    max_admin_ttl_secs: u64,
    keys: RwLock<KeySet>,
    jwks: Option<JwksSource>,
    /// Tokens already verified by these keys.
    verified: VerifiedCache,
}

fn reject(code: ErrorCode, message: &str) -> ApiError {
    ApiError::new(code, message)
}

impl Verifier {
    pub fn new(settings: &AuthSettings, keys: KeySet, jwks: Option<JwksSource>) -> Self {
        Self {
            role_claim: settings.role_claim.clone(),
            leeway_secs: settings.leeway_secs,
            max_admin_ttl_secs: settings.max_admin_token_ttl_secs,
            keys: RwLock::new(keys),
            jwks,
            verified: VerifiedCache::new(settings.leeway_secs),
        }
    }

    /// Checks `token` completely except for revocation and the team's existence. A token
    /// verified before is taken from the cache, its `exp` and `nbf` checked again.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, ApiError> {
        if let Some(verified) = self
            .verified
            .get(token, jsonwebtoken::get_current_timestamp())
        {
            return Ok(verified);
        }
        let generation = self.verified.generation();
        let header = read_header(token)?;
        let Some(alg_name) = header.alg.as_deref() else {
            return Err(reject(
                ErrorCode::TokenAlgorithmNotAllowed,
                "Token has no algorithm",
            ));
        };
        let Some(algorithm) = parse_algorithm(alg_name) else {
            return Err(reject(
                ErrorCode::TokenAlgorithmNotAllowed,
                "Token algorithm is not allowed (HS256, RS256, ES256 only)",
            ));
        };
        let kid = header.kid.as_deref();
        let key = match self.find_key(kid) {
            Some(key) => key,
            None => self.refresh_and_find(kid).await?,
        };
        if key.algorithm != algorithm {
            return Err(reject(
                ErrorCode::TokenAlgorithmNotAllowed,
                "Token algorithm does not match its key",
            ));
        }
        let policy = &key.policy;
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&policy.issuer]);
        validation.set_audience(&[&policy.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway_secs;
        validation.validate_nbf = true;
        let data = decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|err| map_decode_error(err.kind()))?;
        let verified = self.read_claims(&data.claims, policy)?;
        // Kept only when its window can be checked again exactly: `exp` (and `nbf`, if any)
        // as whole unix seconds.
        let claim = |name: &str| data.claims.get(name).map(Value::as_u64);
        let nbf = match claim("nbf") {
            None => Some(None),
            Some(seconds) => seconds.map(Some),
        };
        if let (Some(Some(expires)), Some(nbf)) = (claim("exp"), nbf) {
            self.verified
                .insert(generation, token, &verified, expires, nbf);
        }
        Ok(verified)
    }

    fn find_key(&self, kid: Option<&str>) -> Option<VerificationKey> {
        let keys = self
            .keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.find(kid).cloned()
    }

    async fn refresh_and_find(&self, kid: Option<&str>) -> Result<VerificationKey, ApiError> {
        let unknown = || {
            reject(
                ErrorCode::TokenSignatureInvalid,
                "Token signed by an unknown key",
            )
        };
        let (Some(jwks), Some(kid)) = (&self.jwks, kid) else {
            return Err(unknown());
        };
        // Single-flight: whoever fetches installs the keys before the others look again.
        jwks.refresh_if_due(|set| {
            let held = self
                .keys
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .replace_jwks(&set);
            // A key the new set lacks must not keep vouching for tokens it verified.
            self.verified.clear();
            held
        })
        .await;
        self.find_key(Some(kid)).ok_or_else(unknown)
    }

    fn read_claims(
        &self,
        claims: &Map<String, Value>,
        policy: &KeyPolicy,
    ) -> Result<VerifiedToken, ApiError> {
        let invalid = |message: &str| reject(ErrorCode::TokenClaimsInvalid, message);
        let refused =
            |refusal: PolicyRefusal| reject(ErrorCode::TokenNotPermitted, &refusal.to_string());
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid("Token `sub` must be a non-empty string"))?
            .to_owned();
        let role = claims
            .get(&self.role_claim)
            .and_then(Value::as_str)
            .and_then(|r| Role::parse(r).ok())
            .ok_or_else(|| invalid("Token role must be team, admin or finance"))?;
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| !j.is_empty() && j.chars().count() <= MAX_JTI_CHARS)
            .filter(|j| !j.chars().any(char::is_control))
            .ok_or_else(|| invalid("Token must carry a `jti` of 1 to 200 printable characters"))?
            .to_owned();
        let issued_at = claims.get("iat").and_then(Value::as_i64);
        policy.check_subject(&subject).map_err(refused)?;
        policy.check_role(role).map_err(refused)?;
        let team_slug = match role {
            Role::Team => {
                let claim = claims
                    .get(&policy.team_claim)
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("A team token must name its team"))?;
                Some(policy.team_slug(claim).map_err(refused)?)
            }
            Role::Admin | Role::Finance => {
                self.check_admin_lifetime(claims, issued_at)?;
                None
            }
        };
        Ok(VerifiedToken {
            subject,
            role,
            team_slug,
            issuer: policy.issuer.clone(),
            jti,
            issued_at,
        })
    }

    /// An admin or finance token may live at most `auth.max_admin_token_ttl_secs` from its
    /// `iat` (or, without one, from now).
    fn check_admin_lifetime(
        &self,
        claims: &Map<String, Value>,
        issued_at: Option<i64>,
    ) -> Result<(), ApiError> {
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
        let expires = claims
            .get("exp")
            .and_then(Value::as_i64)
            .unwrap_or(i64::MAX);
        let lifetime = expires.saturating_sub(issued_at.unwrap_or(now).min(now));
        let cap = i64::try_from(self.max_admin_ttl_secs.saturating_add(self.leeway_secs))
            .unwrap_or(i64::MAX);
        if lifetime > cap {
            return Err(reject(
                ErrorCode::TokenNotPermitted,
                &format!(
                    "An admin or finance token may live at most {} seconds",
                    self.max_admin_ttl_secs
                ),
            ));
        }
        Ok(())
    }
}

fn read_header(token: &str) -> Result<RawHeader, ApiError> {
    let malformed = || reject(ErrorCode::InvalidApiKeyFormat, "Bearer token is not a JWT");
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| malformed())
}

fn map_decode_error(kind: &ErrorKind) -> ApiError {
    let (code, message) = match kind {
        ErrorKind::ExpiredSignature => (ErrorCode::TokenExpired, "Token has expired"),
        ErrorKind::ImmatureSignature => (ErrorCode::TokenNotYetValid, "Token is not valid yet"),
        ErrorKind::InvalidIssuer => (
            ErrorCode::TokenIssuerInvalid,
            "Token issuer is not accepted",
        ),
        ErrorKind::InvalidAudience => (
            ErrorCode::TokenAudienceInvalid,
            "Token audience is not this gateway",
        ),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => (
            ErrorCode::TokenAlgorithmNotAllowed,
            "Token algorithm is not allowed",
        ),
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => (
            ErrorCode::TokenSignatureInvalid,
            "Token signature is invalid",
        ),
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => (
            ErrorCode::TokenClaimsInvalid,
            "Token lacks a required claim (exp, iss, aud, sub) or has a malformed one",
        ),
        _ => (
            ErrorCode::InvalidApiKeyFormat,
            "Bearer token is not a valid JWT",
        ),
    };
    reject(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use jsonwebtoken::jwk::{Jwk, JwkSet};
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    use serde_json::json;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use uuid::Uuid;

    const EC_PRIVATE_PEM: &str = include_str!("../../../../tests/fixtures/ec_private.pem");

    fn ec_key() -> EncodingKey {
        EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()).unwrap()
    }

    /// A JWKS server publishing whatever `published` holds when it is asked, counting its
    /// fetches and answering each after `delay`.
    fn jwks_server(
        published: Arc<std::sync::Mutex<JwkSet>>,
        fetches: Arc<AtomicUsize>,
        delay: Duration,
    ) -> (String, actix_web::dev::ServerHandle) {
        let server = actix_web::HttpServer::new(move || {
            let (published, fetches) = (published.clone(), fetches.clone());
            actix_web::App::new().route(
                "/jwks.json",
                actix_web::web::get().to(move || {
                    let jwks = published.lock().unwrap().clone();
                    fetches.fetch_add(1, Ordering::SeqCst);
                    async move {
                        tokio::time::sleep(delay).await;
                        actix_web::HttpResponse::Ok().json(jwks)
                    }
                }),
            )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let url = format!("http://{}/jwks.json", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        (url, handle)
    }

    fn es256_token(settings: &AuthSettings, kid: &str) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = json!({
            "iss": settings.issuer, "aud": settings.audience, "sub": "partner:user",
            "role": "team", "team": "alpha", "exp": now + 600, "jti": "t-1",
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        encode(&header, &claims, &ec_key()).unwrap()
    }

    fn ec_jwks(kid: &str) -> JwkSet {
        let mut jwk = Jwk::from_encoding_key(&ec_key(), Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.into());
        JwkSet { keys: vec![jwk] }
    }

    async fn verify_all(verifier: &Arc<Verifier>, tokens: Vec<String>) -> Vec<Option<ErrorCode>> {
        let tasks: Vec<_> = tokens
            .into_iter()
            .map(|token| {
                let verifier = verifier.clone();
                tokio::spawn(async move { verifier.verify(&token).await.err().map(|e| e.code()) })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn auth_concurrent_unknown_kids_share_one_jwks_fetch_per_interval() {
        let fetches = Arc::new(AtomicUsize::new(0));
        // Slow answers: every verification below arrives while the one fetch is in flight.
        let published = Arc::new(std::sync::Mutex::new(ec_jwks("published")));
        let (url, server) = jwks_server(published, fetches.clone(), Duration::from_millis(300));
        let mut settings = Settings::from_sources(None, Vec::new()).unwrap().auth;
        settings.jwks_url = url.clone();
        // Below the floor on purpose: the source keeps the floor even if validation is skipped.
        settings.jwks_min_refresh_secs = 0;
        let source = JwksSource::new(url, Duration::from_secs(settings.jwks_min_refresh_secs));
        let keys = KeySet::from_settings(&settings).unwrap();
        let verifier = Arc::new(Verifier::new(&settings, keys, Some(source)));

        // 50 at once: half name the newly published kid, half a random one.
        let tokens = (0..50)
            .map(|i| match i % 2 {
                0 => es256_token(&settings, "published"),
                _ => es256_token(&settings, &format!("random-{}", Uuid::new_v4())),
            })
            .collect();
        let outcomes = verify_all(&verifier, tokens).await;
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "one shared fetch");
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let expected = (i % 2 == 1).then_some(ErrorCode::TokenSignatureInvalid);
            assert_eq!(outcome, expected, "token {i}");
        }

        // Within the interval, more random kids fetch nothing.
        let tokens = (0..20)
            .map(|_| es256_token(&settings, &format!("random-{}", Uuid::new_v4())))
            .collect();
        let outcomes = verify_all(&verifier, tokens).await;
        assert!(outcomes.iter().all(Option::is_some));
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "no fetch within the interval"
        );
        server.stop(true).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn auth_a_token_verified_before_is_refused_once_its_key_is_retired() {
        let published = Arc::new(std::sync::Mutex::new(ec_jwks("old")));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (url, server) = jwks_server(published.clone(), fetches, Duration::ZERO);
        let mut settings = Settings::from_sources(None, Vec::new()).unwrap().auth;
        settings.jwks_url = url.clone();
        let source = JwksSource::new(url, Duration::from_secs(settings.jwks_min_refresh_secs));
        let mut keys = KeySet::from_settings(&settings).unwrap();
        keys.replace_jwks(&ec_jwks("old"));
        let verifier = Verifier::new(&settings, keys, Some(source));

        let old = es256_token(&settings, "old");
        assert!(verifier.verify(&old).await.is_ok());
        assert_eq!(verifier.verified.len(), 1, "kept for the next call");
        assert!(verifier.verify(&old).await.is_ok(), "from the cache");

        // The issuer rotates: a token under the new kid makes the gateway fetch the new set.
        *published.lock().unwrap() = ec_jwks("new");
        assert!(
            verifier
                .verify(&es256_token(&settings, "new"))
                .await
                .is_ok()
        );
        assert_eq!(
            verifier.verify(&old).await.err().map(|e| e.code()),
            Some(ErrorCode::TokenSignatureInvalid),
            "the retired key vouches for nothing, cached or not"
        );
        server.stop(true).await;
    }
}
