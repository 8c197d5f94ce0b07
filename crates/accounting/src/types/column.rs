//! How domain types are stored in Postgres columns. Decoding re-parses the stored value, so a
//! value read back from the database obeys the same rules as one parsed from a request.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};
use uuid::Uuid;

use super::{Credits, EntryStatus, IdempotencyKey, Role, TeamId, TeamSlug, TeamStatus};

/// Stores a type as `text` through its `as_str` and reads it back through its `parse`.
macro_rules! text_column {
    ($($domain:ty),+ $(,)?) => {$(
        impl Type<Postgres> for $domain {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }

            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }

        impl Encode<'_, Postgres> for $domain {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<'_, Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl<'r> Decode<'r, Postgres> for $domain {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as Decode<'r, Postgres>>::decode(value)?;
                Ok(<$domain>::parse(text)?)
            }
        }
    )+};
}

text_column!(
    TeamSlug,
    TeamStatus,
    Role,
    EntryStatus,
    IdempotencyKey,
    crate::alerts::AlertKind
);

impl Type<Postgres> for TeamId {
    fn type_info() -> PgTypeInfo {
        <Uuid as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for TeamId {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <Uuid as Encode<'_, Postgres>>::encode_by_ref(&self.as_uuid(), buf)
    }
}

impl<'r> Decode<'r, Postgres> for TeamId {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self::from(<Uuid as Decode<'r, Postgres>>::decode(value)?))
    }
}

impl Type<Postgres> for Credits {
    fn type_info() -> PgTypeInfo {
        <i64 as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Credits {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'_, Postgres>>::encode_by_ref(&self.get(), buf)
    }
}

impl<'r> Decode<'r, Postgres> for Credits {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self::new(<i64 as Decode<'r, Postgres>>::decode(value)?)?)
    }
}
