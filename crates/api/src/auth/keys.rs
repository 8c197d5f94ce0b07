//! The verification keys: each `kid` maps to exactly one allowed algorithm and its key, so
//! a token can never choose how it is verified (no `none`, no HMAC with a public key).

use crate::config::{AuthSettings, KeySettings};
use anyhow::{Context, bail};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;

/// The only algorithms the gateway accepts, whatever a key or token says.
pub const ALLOWED_ALGORITHMS: &[Algorithm] =
    &[Algorithm::HS256, Algorithm::RS256, Algorithm::ES256];

/// A key and the one algorithm it may verify.
#[derive(Clone)]
pub struct VerificationKey {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// Keys by `kid`, plus the kid used for tokens that name none.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, VerificationKey>,
    default_kid: Option<String>,
}

impl KeySet {
    /// The gateway's own HS256 key (if configured) and the configured extra keys.
    pub fn from_settings(settings: &AuthSettings) -> anyhow::Result<Self> {
        let mut set = KeySet::default();
        if !settings.signing_secret.is_empty() {
            let key = DecodingKey::from_secret(settings.signing_secret.expose().as_bytes())?;
            set.insert(settings.signing_kid.clone(), Algorithm::HS256, key);
            set.default_kid = Some(settings.signing_kid.clone());
        }
        for key in &settings.keys {
            let (algorithm, decoding) =
                configured_key(key).with_context(|| format!("auth.keys kid {}", key.kid))?;
            set.insert(key.kid.clone(), algorithm, decoding);
        }
        Ok(set)
    }

    pub fn insert(&mut self, kid: String, algorithm: Algorithm, key: DecodingKey) {
        self.keys.insert(kid, VerificationKey { algorithm, key });
    }

    /// The key for `kid`, or the default key when the token names none.
    pub fn find(&self, kid: Option<&str>) -> Option<&VerificationKey> {
        let kid = kid.or(self.default_kid.as_deref())?;
        self.keys.get(kid)
    }

    /// Adds every usable key of a JWKS (RS256/ES256 with a `kid`); others are skipped.
    pub fn extend_from_jwks(&mut self, jwks: &JwkSet) -> usize {
        let mut added = 0;
        for jwk in &jwks.keys {
            if let Some((kid, algorithm, key)) = jwks_key(jwk) {
                self.insert(kid, algorithm, key);
                added += 1;
            }
        }
        added
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
