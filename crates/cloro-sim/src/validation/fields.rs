//! Reading one JSON object field by field, collecting every problem with its dotted path.

use serde_json::{Map, Value};

use crate::error::FieldError;

/// Reads fields of one JSON object; every problem is recorded, none stops the reading.
pub(crate) struct ObjectReader<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
    pub errors: Vec<FieldError>,
}

impl<'a> ObjectReader<'a> {
    pub fn new(map: &'a Map<String, Value>, prefix: impl Into<String>) -> Self {
        Self {
            map,
            prefix: prefix.into(),
            errors: Vec::new(),
        }
    }

    /// The dotted path of a field, e.g. `payload.include.html`.
    pub fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub fn fail(&mut self, key: &str, message: impl Into<String>) {
        let field = self.path(key);
        self.errors.push(FieldError::new(field, message));
    }

    /// Records every field not in `allowed`.
    pub fn reject_unknown(&mut self, allowed: &[&str]) {
        let unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            self.fail(&key, "Unknown field");
        }
    }

    /// The value if present and not null.
    pub fn present(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn string(&mut self, key: &str) -> Option<&'a str> {
        let value = self.present(key)?;
        match value.as_str() {
            Some(text) => Some(text),
            None => {
                self.fail(key, "Expected a string");
                None
            }
        }
    }

    pub fn required_string(&mut self, key: &str) -> Option<&'a str> {
        if self.present(key).is_none() {
            self.fail(key, "Required");
            return None;
        }
        self.string(key)
    }

    /// A string of `min..=max` characters.
    pub fn text(&mut self, key: &str, required: bool, min: usize, max: usize) -> Option<&'a str> {
        let text = if required {
            self.required_string(key)?
        } else {
            self.string(key)?
        };
        let length = text.chars().count();
        if length < min || length > max {
            self.fail(key, format!("Must be between {min} and {max} characters"));
            return None;
        }
        Some(text)
    }

    pub fn bool(&mut self, key: &str) -> Option<bool> {
        let value = self.present(key)?;
        match value.as_bool() {
            Some(flag) => Some(flag),
            None => {
                self.fail(key, "Expected a boolean");
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub fn integer(&mut self, key: &str, min: u64, max: u64) -> Option<u64> {
        let value = self.present(key)?;
        match value.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(_) => {
                self.fail(key, format!("Must be between {min} and {max}"));
                None
            }
            None if value.is_number() => {
                self.fail(key, format!("Must be an integer between {min} and {max}"));
                None
            }
            None => {
                self.fail(key, "Expected an integer");
                None
            }
        }
    }

    pub fn object(&mut self, key: &str) -> Option<&'a Map<String, Value>> {
        let value = self.present(key)?;
        match value.as_object() {
            Some(map) => Some(map),
            None => {
                self.fail(key, "Expected an object");
                None
            }
        }
    }

    /// An absolute http(s) URL.
    pub fn url(&mut self, key: &str, required: bool) -> Option<&'a str> {
        let text = if required {
            self.required_string(key)?
        } else {
            self.string(key)?
        };
        match reqwest::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(text)
            }
            _ => {
                self.fail(key, "Must be an absolute http(s) URL");
                None
            }
        }
    }

    /// Folds a nested reader's problems into this one.
    pub fn absorb(&mut self, nested: ObjectReader<'_>) {
        self.errors.extend(nested.errors);
    }
}
