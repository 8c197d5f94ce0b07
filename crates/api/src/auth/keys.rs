//! The verification keys: each `kid` maps to exactly one allowed algorithm and its key, so
//! a token can never choose how it is verified (no `none`, no HMAC with a public key).
//! Configured keys and JWKS keys are held apart: a JWKS refresh replaces only the JWKS part
//! (a key the provider dropped stops working) and can never shadow a configured `kid`. Each
//! key carries the [`KeyPolicy`] that says what its tokens may claim.

use crate::auth::key_policy::KeyPolicy;
use crate::config::{AuthSettings, KeySettings};
use anyhow::{Context, bail};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::Arc;

/// The only algorithms the gateway accepts, whatever a key or token says.
pub const ALLOWED_ALGORITHMS: &[Algorithm] =
    &[Algorithm::HS256, Algorithm::RS256, Algorithm::ES256];

/// A key, the one algorithm it may verify, and what its tokens may claim.
#[derive(Clone)]
pub struct VerificationKey {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
    pub policy: Arc<KeyPolicy>,
}

/// Keys by `kid`, plus the kid used for tokens that name none.
#[derive(Clone)]
pub struct KeySet {
    /// The gateway's own key and `auth.keys`: fixed for the life of the process.
    configured: HashMap<String, VerificationKey>,
    /// The keys of the last JWKS fetched, minus any `kid` configured above.
    from_jwks: HashMap<String, VerificationKey>,
    default_kid: Option<String>,
    /// What JWKS keys may claim (`auth.jwks_policy`).
    jwks_policy: Arc<KeyPolicy>,
}

impl KeySet {
    /// No key yet; JWKS keys will get `jwks_policy`.
    pub fn new(jwks_policy: KeyPolicy) -> Self {
        Self {
            configured: HashMap::new(),
            from_jwks: HashMap::new(),
            default_kid: None,
            jwks_policy: Arc::new(jwks_policy),
        }
    }

    /// The gateway's own HS256 key (if configured) and the configured extra keys, each with
    /// its policy.
    pub fn from_settings(settings: &AuthSettings) -> anyhow::Result<Self> {
        let jwks_policy = KeyPolicy::from_settings(&settings.jwks_policy, settings)
            .context("auth.jwks_policy")?;
        let mut set = KeySet::new(jwks_policy);
        if !settings.signing_secret.is_empty() {
            let key = DecodingKey::from_secret(settings.signing_secret.expose().as_bytes())?;
            let policy = KeyPolicy::own(settings);
            set.configure(settings.signing_kid.clone(), Algorithm::HS256, key, policy);
            set.default_kid = Some(settings.signing_kid.clone());
        }
        for key in &settings.keys {
            let context = || format!("auth.keys kid {}", key.kid);
            if key.kid == settings.signing_kid && !settings.signing_secret.is_empty() {
                bail!("{}: the kid is auth.signing_kid's", context());
            }
            let (algorithm, decoding) = configured_key(key).with_context(context)?;
            let policy = KeyPolicy::from_settings(&key.policy, settings).with_context(context)?;
            set.configure(key.kid.clone(), algorithm, decoding, policy);
        }
        Ok(set)
    }

    fn configure(
        &mut self,
        kid: String,
        algorithm: Algorithm,
        key: DecodingKey,
        policy: KeyPolicy,
    ) {
        let policy = Arc::new(policy);
        self.configured.insert(
            kid,
            VerificationKey {
                algorithm,
                key,
                policy,
            },
        );
    }

    /// The key for `kid`, or the default key when the token names none.
    pub fn find(&self, kid: Option<&str>) -> Option<&VerificationKey> {
        let kid = kid.or(self.default_kid.as_deref())?;
        self.configured.get(kid).or_else(|| self.from_jwks.get(kid))
    }

    /// Replaces the JWKS keys with the usable keys of `jwks` (RS256/ES256 with a `kid`);
    /// other keys, and keys whose `kid` is configured, are skipped. Returns how many are held.
    pub fn replace_jwks(&mut self, jwks: &JwkSet) -> usize {
        let mut from_jwks = HashMap::new();
        for (kid, algorithm, key) in jwks.keys.iter().filter_map(jwks_key) {
            if self.configured.contains_key(&kid) {
                tracing::warn!(kid = %kid, "JWKS key ignored: its kid is a configured key");
                continue;
            }
            let policy = self.jwks_policy.clone();
            from_jwks.insert(
                kid,
                VerificationKey {
                    algorithm,
                    key,
                    policy,
                },
            );
        }
        self.from_jwks = from_jwks;
        self.from_jwks.len()
    }
}

pub fn parse_algorithm(name: &str) -> Option<Algorithm> {
    let algorithm = match name {
        "HS256" => Algorithm::HS256,
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        _ => return None,
    };
    ALLOWED_ALGORITHMS.contains(&algorithm).then_some(algorithm)
}

fn configured_key(key: &KeySettings) -> anyhow::Result<(Algorithm, DecodingKey)> {
    let Some(algorithm) = parse_algorithm(&key.algorithm) else {
        bail!(
            "algorithm {} is not one of HS256, RS256, ES256",
            key.algorithm
        );
    };
    let decoding = match (algorithm, &key.secret, &key.public_key_pem) {
        (Algorithm::HS256, Some(secret), None) => {
            if secret.expose().len() < 32 {
                bail!("an HS256 secret must be at least 32 bytes");
            }
            DecodingKey::from_secret(secret.expose().as_bytes())?
        }
        (Algorithm::RS256, None, Some(pem)) => DecodingKey::from_rsa_pem(pem.as_bytes())?,
        (Algorithm::ES256, None, Some(pem)) => DecodingKey::from_ec_pem(pem.as_bytes())?,
        (Algorithm::HS256, _, _) => bail!("HS256 takes `secret` and no `public_key_pem`"),
        _ => bail!("RS256/ES256 take `public_key_pem` and no `secret`"),
    };
    Ok((algorithm, decoding))
}

fn jwks_key(jwk: &Jwk) -> Option<(String, Algorithm, DecodingKey)> {
    let kid = jwk.common.key_id.clone()?;
    let algorithm = match &jwk.algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
        jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
        _ => return None,
    };
    if let Some(declared) = jwk.common.key_algorithm {
        let declared = parse_algorithm(&format!("{declared:?}"))?;
        if declared != algorithm {
            return None;
        }
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, algorithm, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::EncodingKey;

    const EC_PRIVATE_PEM: &str = include_str!("../../../../tests/fixtures/ec_private.pem");

    fn ec_jwks(kids: &[&str]) -> JwkSet {
        let key = EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()).unwrap();
        let keys = kids
            .iter()
            .map(|kid| {
                let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
                jwk.common.key_id = Some((*kid).to_owned());
                jwk
            })
            .collect();
        JwkSet { keys }
    }

    #[test]
    fn auth_jwks_refresh_replaces_its_keys_and_never_shadows_a_configured_kid() {
        let auth = crate::config::Settings::from_sources(None, Vec::new())
            .unwrap()
            .auth;
        let policy = || KeyPolicy::from_settings(&Default::default(), &auth).unwrap();
        let mut set = KeySet::new(policy());
        let secret = DecodingKey::from_secret(&[7; 32]).unwrap();
        set.configure("partner".into(), Algorithm::HS256, secret, policy());

        assert_eq!(set.replace_jwks(&ec_jwks(&["partner", "old"])), 1);
        assert_eq!(
            set.find(Some("partner")).map(|k| k.algorithm),
            Some(Algorithm::HS256)
        );
        assert_eq!(
            set.find(Some("old")).map(|k| k.algorithm),
            Some(Algorithm::ES256)
        );

        // The provider dropped `old`: it stops working; the configured key stays.
        assert_eq!(set.replace_jwks(&ec_jwks(&["new"])), 1);
        assert!(set.find(Some("old")).is_none());
        assert!(set.find(Some("new")).is_some());
        assert_eq!(
            set.find(Some("partner")).map(|k| k.algorithm),
            Some(Algorithm::HS256)
        );
    }

    #[test]
    fn only_three_algorithms_are_allowed() {
        assert_eq!(parse_algorithm("HS256"), Some(Algorithm::HS256));
        assert_eq!(parse_algorithm("RS256"), Some(Algorithm::RS256));
        assert_eq!(parse_algorithm("ES256"), Some(Algorithm::ES256));
        for other in ["none", "None", "HS512", "RS384", "PS256", "EdDSA", ""] {
            assert_eq!(parse_algorithm(other), None, "{other}");
        }
    }
}
