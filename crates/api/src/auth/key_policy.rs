//! What a verification key's tokens may claim. A token proves only that its key signed it;
//! the key's policy decides what that signature is worth: the roles it may grant, the teams
//! it may speak for, the issuer and audience it must carry. The gateway's own signing key
//! may claim anything (and alone the reserved subjects); a partner key or an identity
//! provider's JWKS signs team tokens only, unless its policy lists more.

use crate::config::{AuthSettings, KeyPolicySettings};
use accounting::Role;
use anyhow::bail;
use std::collections::{BTreeMap, HashSet};

/// The subject the command line acts as in the audit log.
pub const CLI_SUBJECT: &str = "cli";

/// The prefix of subjects the admin API gives the tokens it mints.
pub const ADMIN_SUBJECT_PREFIX: &str = "admin:";

/// Subjects only the gateway's own key may carry: `cli`, `cli:*` and `admin:*` name the
/// gateway's own tooling in the audit log, so no other key may impersonate them (and the
/// admin API mints them only as its defaults).
pub fn is_reserved_subject(subject: &str) -> bool {
    subject == CLI_SUBJECT
        || subject.starts_with("cli:")
        || subject.starts_with(ADMIN_SUBJECT_PREFIX)
}

/// Which teams a key may speak for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TeamScope {
    Any,
    Only(HashSet<String>),
}

/// Why a verified token's claims are more than its key may grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    #[error("Token's key may not grant the {0} role")]
    Role(Role),
    #[error("Token's key may not speak for team {0}")]
    Team(String),
    #[error("Token's team claim is not mapped to a team for its key")]
    UnmappedTeam,
    #[error("Token's subject is reserved for the gateway's own key")]
    ReservedSubject,
}

#[derive(Debug, Clone)]
pub struct KeyPolicy {
    /// The gateway's own signing key.
    own: bool,
    roles: Vec<Role>,
    teams: TeamScope,
    pub issuer: String,
    pub audience: String,
    pub team_claim: String,
    team_map: Option<BTreeMap<String, String>>,
}

impl KeyPolicy {
    /// The gateway's own key: every role, every team, `auth.issuer` and `auth.audience`.
    pub fn own(auth: &AuthSettings) -> Self {
        Self {
            own: true,
            roles: vec![Role::Team, Role::Finance, Role::Admin],
            teams: TeamScope::Any,
            issuer: auth.issuer.clone(),
            audience: auth.audience.clone(),
            team_claim: auth.team_claim.clone(),
            team_map: None,
        }
    }

    /// A partner key's or the JWKS's policy, with `auth`'s issuer, audience and team claim
    /// where the policy names none.
    pub fn from_settings(policy: &KeyPolicySettings, auth: &AuthSettings) -> anyhow::Result<Self> {
        let mut roles = Vec::new();
        for name in &policy.roles {
            let Ok(role) = Role::parse(name) else {
                bail!("policy role {name:?} is not team, finance or admin");
            };
            roles.push(role);
        }
        if roles.is_empty() {
            bail!("a key policy must grant at least one role");
        }
        let teams = if policy.teams.iter().any(|t| t == "*") {
            TeamScope::Any
        } else {
            TeamScope::Only(policy.teams.iter().cloned().collect())
        };
        Ok(Self {
            own: false,
            roles,
            teams,
            issuer: policy.issuer.clone().unwrap_or_else(|| auth.issuer.clone()),
            audience: policy
                .audience
                .clone()
                .unwrap_or_else(|| auth.audience.clone()),
            team_claim: policy
                .team_claim
                .clone()
                .unwrap_or_else(|| auth.team_claim.clone()),
            team_map: policy.team_map.clone(),
        })
    }

    /// Whether tokens of this key may carry `subject` (reserved subjects: own key only).
    pub fn check_subject(&self, subject: &str) -> Result<(), PolicyRefusal> {
        if !self.own && is_reserved_subject(subject) {
            return Err(PolicyRefusal::ReservedSubject);
        }
        Ok(())
    }

    pub fn check_role(&self, role: Role) -> Result<(), PolicyRefusal> {
        if self.roles.contains(&role) {
            Ok(())
        } else {
            Err(PolicyRefusal::Role(role))
        }
    }

    /// The team slug a team claim's value stands for, if this key may speak for it.
    pub fn team_slug(&self, claim: &str) -> Result<String, PolicyRefusal> {
        let slug = match &self.team_map {
            None => claim.to_owned(),
            Some(map) => map.get(claim).cloned().ok_or(PolicyRefusal::UnmappedTeam)?,
        };
        match &self.teams {
            TeamScope::Any => Ok(slug),
            TeamScope::Only(teams) if teams.contains(&slug) => Ok(slug),
            TeamScope::Only(_) => Err(PolicyRefusal::Team(slug)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn auth() -> AuthSettings {
        Settings::from_sources(None, Vec::new()).unwrap().auth
    }

    #[test]
    fn a_partner_key_signs_team_tokens_only_by_default() {
        let policy = KeyPolicy::from_settings(&KeyPolicySettings::default(), &auth()).unwrap();
        assert_eq!(policy.check_role(Role::Team), Ok(()));
        assert_eq!(
            policy.check_role(Role::Admin),
            Err(PolicyRefusal::Role(Role::Admin))
        );
        assert_eq!(
            policy.check_role(Role::Finance),
            Err(PolicyRefusal::Role(Role::Finance))
        );
        assert_eq!(policy.team_slug("alpha"), Ok("alpha".to_owned()));
        assert_eq!(policy.issuer, "cloro-gateway");
    }

    #[test]
    fn the_own_key_may_grant_every_role_and_reserved_subjects() {
        let policy = KeyPolicy::own(&auth());
        for role in [Role::Team, Role::Finance, Role::Admin] {
            assert_eq!(policy.check_role(role), Ok(()));
        }
        assert_eq!(policy.check_subject("cli"), Ok(()));
        assert_eq!(policy.check_subject("admin:alice"), Ok(()));
    }

    #[test]
    fn reserved_subjects_belong_to_the_own_key() {
        let policy = KeyPolicy::from_settings(&KeyPolicySettings::default(), &auth()).unwrap();
        for subject in ["cli", "cli:admin", "admin:", "admin:root"] {
            assert_eq!(
                policy.check_subject(subject),
                Err(PolicyRefusal::ReservedSubject)
            );
        }
        for subject in ["client", "Admin:x", "administrator", "partner:cli"] {
            assert_eq!(policy.check_subject(subject), Ok(()), "{subject}");
        }
    }

    #[test]
    fn a_team_list_and_a_claim_map_bound_the_teams() {
        let settings = KeyPolicySettings {
            teams: vec!["alpha".into()],
            team_map: Some(BTreeMap::from([
                ("org-1".to_owned(), "alpha".to_owned()),
                ("org-2".to_owned(), "beta".to_owned()),
            ])),
            ..KeyPolicySettings::default()
        };
        let policy = KeyPolicy::from_settings(&settings, &auth()).unwrap();
        assert_eq!(policy.team_slug("org-1"), Ok("alpha".to_owned()));
        assert_eq!(
            policy.team_slug("org-2"),
            Err(PolicyRefusal::Team("beta".into()))
        );
        assert_eq!(policy.team_slug("alpha"), Err(PolicyRefusal::UnmappedTeam));
    }

    #[test]
    fn a_policy_with_an_unknown_or_no_role_is_refused() {
        for roles in [vec!["root".to_owned()], Vec::new()] {
            let settings = KeyPolicySettings {
                roles,
                ..KeyPolicySettings::default()
            };
            assert!(KeyPolicy::from_settings(&settings, &auth()).is_err());
        }
    }
}
