//! How domain types are spelled as text and stored in Postgres columns, one macro per shape so
//! every type gets `FromStr`, `Display` and its sqlx `Type`/`Encode`/`Decode` the same way.
//! Decoding re-parses the stored value, so a value read back from the database obeys the same
//! rules as one parsed from a request.

/// Stores a type as `text` through its `as_str` and reads it back through its `parse`; its
/// `Display` and `FromStr` are the same text.
///
/// - `text_column!(enum Kind: "kind", expecting "'a' or 'b'" { A => "a", B => "b" })` also
///   writes `Kind::parse` and `Kind::as_str` over that fixed set of strings; anything else is
///   refused with "expected 'a' or 'b', got ...".
/// - `text_column!(newtype Slug)`, for a newtype over a `String` with its own `parse` and
///   `as_str`, also writes `TryFrom<String>` and `From<Slug> for String` (for serde's
///   `try_from`/`into`).
/// - `text_column!(newtype Key, read back by parse_stored)` is the same, but decodes stored
///   values with `Key::parse_stored`: for a type whose rule for new values was tightened
///   while rows written under the older rule remain (the ledger is append-only).
macro_rules! text_column {
    (
        enum $domain:ident: $type_name:literal, expecting $expected:literal {
            $($variant:ident => $text:literal),+ $(,)?
        }
    ) => {
        impl $domain {
            /// The value this text spells, exactly (case included).
            pub fn parse(text: &str) -> Result<Self, $crate::InvalidValue> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err($crate::InvalidValue::new(
                        $type_name,
                        format!(concat!("expected ", $expected, ", got {:?}"), other),
                    )),
                }
            }

            /// The spelling on the wire and in the database.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        $crate::types::text_column!(@text $domain, read back by parse);
    };
    (newtype $domain:ident) => {
        $crate::types::text_column!(newtype $domain, read back by parse);
    };
    (newtype $domain:ident, read back by $read:ident) => {
        impl TryFrom<String> for $domain {
            type Error = $crate::InvalidValue;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                Self::parse(&text)
            }
        }

        impl From<$domain> for String {
            fn from(value: $domain) -> Self {
                value.0
            }
        }

        $crate::types::text_column!(@text $domain, read back by $read);
    };
    (@text $domain:ident, read back by $read:ident) => {
        $crate::types::from_str_by_parse!($domain);

        impl ::std::fmt::Display for $domain {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::sqlx::Type<::sqlx::Postgres> for $domain {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl ::sqlx::Encode<'_, ::sqlx::Postgres> for $domain {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<'_, ::sqlx::Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $domain {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                let text = <&str as ::sqlx::Decode<'r, ::sqlx::Postgres>>::decode(value)?;
                Ok(Self::$read(text)?)
            }
        }
    };
}

/// `FromStr` through the type's own `parse`, so `"...".parse::<T>()` obeys the same rules.
macro_rules! from_str_by_parse {
    ($domain:ident) => {
        impl ::std::str::FromStr for $domain {
            type Err = $crate::InvalidValue;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }
    };
}

/// Stores a `Copy` newtype as the scalar column it wraps (`uuid`, `bigint`), converting with
/// `From<Domain> for Scalar` and back with `TryFrom<Scalar>`; its `Display` is the scalar's
/// and its `FromStr` is its `parse`.
macro_rules! scalar_column {
    ($domain:ident => $scalar:ty) => {
        $crate::types::from_str_by_parse!($domain);

        impl ::std::fmt::Display for $domain {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&<$scalar>::from(*self), f)
            }
        }

        impl ::sqlx::Type<::sqlx::Postgres> for $domain {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <$scalar as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }
        }

        impl ::sqlx::Encode<'_, ::sqlx::Postgres> for $domain {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <$scalar as ::sqlx::Encode<'_, ::sqlx::Postgres>>::encode_by_ref(
                    &<$scalar>::from(*self),
                    buf,
                )
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $domain {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                let scalar = <$scalar as ::sqlx::Decode<'r, ::sqlx::Postgres>>::decode(value)?;
                Ok(Self::try_from(scalar)?)
            }
        }
    };
}

pub(crate) use {from_str_by_parse, scalar_column, text_column};

#[cfg(test)]
mod tests {
    use crate::alerts::AlertKind;
    use crate::{Credits, EntryStatus, Role, TeamSlug};

    #[test]
    fn a_refused_enum_text_names_the_accepted_ones() {
        let error = EntryStatus::parse("posted").unwrap_err();
        assert_eq!(error.type_name(), "ledger entry status");
        assert_eq!(
            error.reason(),
            r#"expected PENDING, POSTED, VOIDED or EXPIRED, got "posted""#
        );
        assert_eq!(
            Role::parse("root").unwrap_err().reason(),
            r#"expected 'team', 'admin' or 'finance', got "root""#
        );
    }

    #[test]
    fn display_and_from_str_are_the_column_text() {
        let kind: AlertKind = "account_balance_floor".parse().unwrap();
        assert_eq!(kind, AlertKind::AccountBalanceFloor);
        assert_eq!(kind.to_string(), "account_balance_floor");
        assert_eq!(String::from(TeamSlug::parse("team-a").unwrap()), "team-a");
        assert_eq!(format!("{:>4}", Credits::new(12).unwrap()), "  12");
        assert!("-1".parse::<Credits>().is_err());
    }
}
