//! The one error every domain type's `parse` returns, so callers can report it uniformly.

/// A value that does not satisfy the rules of the type it was parsed into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {type_name}: {reason}")]
pub struct InvalidValue {
    type_name: &'static str,
    reason: String,
}

impl InvalidValue {
    pub(crate) fn new(type_name: &'static str, reason: impl Into<String>) -> Self {
        Self {
            type_name,
            reason: reason.into(),
        }
    }

    /// The domain type that refused the value, e.g. `"team slug"`.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// Why the value was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}
