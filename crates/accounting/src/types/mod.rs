//! Domain types that can only hold valid values: parse once at the edge, then trust them.

pub mod caller_id;
mod column;
mod credits;
mod entry_status;
mod idempotency_key;
mod invalid_value;
mod role;
mod team_id;
mod team_slug;
mod team_status;

pub use credits::Credits;
pub use entry_status::EntryStatus;
pub use idempotency_key::IdempotencyKey;
pub use invalid_value::InvalidValue;
pub use role::Role;
pub use team_id::TeamId;
pub use team_slug::TeamSlug;
pub use team_status::TeamStatus;

pub(crate) use column::{from_str_by_parse, text_column};
