//! JSON bodies read strictly.
//!
//! serde's derived `Deserialize` accepts a JSON array wherever a struct is
//! expected (`["ht1", 1]` fills the first two fields in order), and
//! serde_json offers no switch to refuse it. So a body is first parsed into
//! [`Json`], a tree that keeps every key (a key given twice stays a duplicate
//! for the struct to refuse), and then deserialized from that tree by a
//! deserializer that offers a struct nothing but a JSON object, at every
//! depth. Its errors quote the caller's values shortened (see [`quoted`]).

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeSeed, Expected, IntoDeserializer, MapAccess, SeqAccess, Unexpected, Visitor,
};
use serde::forward_to_deserialize_any;

use crate::error::quoted;

/// A parsed JSON value. Objects keep their keys in order, duplicates too.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> de::Deserialize<'de> for Json {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

/// The largest integer every larger one of which a float may round to: 2^53.
const EXACT_INTEGER_MAX: f64 = 9_007_199_254_740_992.0;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Json, E> {
        Ok(Json::Bool(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Json, E> {
        Ok(Json::Unsigned(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Json, E> {
        Ok(Json::Signed(value))
    }

    /// A number written with a fraction of zero (`5.0`, `1e3`) is the
    /// integer it equals, as JSON Schema counts it; but only up to 2^53,
    /// beyond which a float is not sure to be the number that was written.
    fn visit_f64<E>(self, value: f64) -> Result<Json, E> {
        if value.fract() != 0.0 || value.abs() > EXACT_INTEGER_MAX {
            return Ok(Json::Float(value));
        }
        if value >= 0.0 {
            Ok(Json::Unsigned(value as u64))
        } else {
            Ok(Json::Signed(value as i64))
        }
    }

    fn visit_str<E>(self, value: &str) -> Result<Json, E> {
        Ok(Json::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Json, E> {
        Ok(Json::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Json::Object(entries))
    }
}

impl Json {
    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            Json::Null => Unexpected::Unit,
            Json::Bool(value) => Unexpected::Bool(*value),
            Json::Unsigned(value) => Unexpected::Unsigned(*value),
            Json::Signed(value) => Unexpected::Signed(*value),
            Json::Float(value) => Unexpected::Float(*value),
            Json::String(value) => Unexpected::Str(value),
            Json::Array(_) => Unexpected::Seq,
            Json::Object(_) => Unexpected::Map,
        }
    }
}

/// Deserializes a `T` from a parsed body (a struct only from an object),
/// with the path to the value at fault when it fails.
pub fn from_json<T: de::DeserializeOwned>(
    json: &Json,
) -> Result<T, serde_path_to_error::Error<BodyError>> {
    serde_path_to_error::deserialize(Strict(json))
}

/// Why a body does not fit its type.
#[derive(Debug)]
pub struct BodyError(String);

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BodyError {}

/// A caller's value as serde describes it, strings shortened.
fn shown(unexpected: Unexpected<'_>) -> String {
    match unexpected {
        Unexpected::Str(value) => Unexpected::Str(&quoted(value)).to_string(),
        other => other.to_string(),
    }
}

fn one_of(names: &'static [&'static str]) -> String {
    match names {
        [] => "no fields here".to_owned(),
        names => {
            let listed: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
            format!("one of {}", listed.join(", "))
        }
    }
}

impl de::Error for BodyError {
    fn custom<T: fmt::Display>(message: T) -> BodyError {
        BodyError(message.to_string())
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn Expected) -> BodyError {
        BodyError::custom(format_args!(
            "invalid type: {}, expected {expected}",
            shown(unexpected)
        ))
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn Expected) -> BodyError {
        BodyError::custom(format_args!(
            "invalid value: {}, expected {expected}",
            shown(unexpected)
        ))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> BodyError {
        BodyError::custom(format_args!(
            "unknown variant `{}`, expected {}",
            quoted(variant),
            one_of(expected)
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> BodyError {
        BodyError::custom(format_args!(
            "unknown field `{}`, expected {}",
            quoted(field),
            one_of(expected)
        ))
    }
}

/// The deserializer over a [`Json`] tree.
struct Strict<'a>(&'a Json);

impl<'de> de::Deserializer<'de> for Strict<'de> {
    type Error = BodyError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BodyError> {
        match self.0 {
            Json::Null => visitor.visit_unit(),
            Json::Bool(value) => visitor.visit_bool(*value),
            Json::Unsigned(value) => visitor.visit_u64(*value),
            Json::Signed(value) => visitor.visit_i64(*value),
            Json::Float(value) => visitor.visit_f64(*value),
            Json::String(value) => visitor.visit_borrowed_str(value),
            Json::Array(items) => visitor.visit_seq(Elements(items.iter())),
            Json::Object(entries) => visitor.visit_map(Fields {
                entries: entries.iter(),
                value: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BodyError> {
        match self.0 {
            Json::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    /// The point of this deserializer: a struct from an object, nothing else.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, BodyError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BodyError> {
        match self.0 {
            Json::Object(_) => self.deserialize_any(visitor),
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, BodyError> {
        visitor.visit_newtype_struct(self)
    }

    /// Only unit variants, named by a string.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, BodyError> {
        match self.0 {
            Json::String(value) => visitor.visit_enum(value.as_str().into_deserializer()),
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BodyError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct identifier
    }
}

struct Elements<'a>(std::slice::Iter<'a, Json>);

impl<'de> SeqAccess<'de> for Elements<'de> {
    type Error = BodyError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, BodyError> {
        let Some(item) = self.0.next() else {
            return Ok(None);
        };
        seed.deserialize(Strict(item)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Fields<'a> {
    entries: std::slice::Iter<'a, (String, Json)>,
    /// The entry whose key was just read.
    value: Option<&'a (String, Json)>,
}

impl<'de> MapAccess<'de> for Fields<'de> {
    type Error = BodyError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, BodyError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(entry);
        seed.deserialize(BorrowedStrDeserializer::new(&entry.0))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, BodyError> {
        let (_, value) = self
            .value
            .take()
            .expect("serde reads a value only after its key");
        seed.deserialize(Strict(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Line {
        id: String,
        quantity: i64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        items: Vec<Line>,
        note: Option<String>,
    }

    fn read<T: de::DeserializeOwned>(text: &str) -> Result<T, (String, Option<String>)> {
        let json: Json = serde_json::from_str(text).expect("valid JSON");
        from_json(&json).map_err(|error| {
            let field = super::super::field(error.path());
            (error.into_inner().to_string(), field)
        })
    }

    #[test]
    fn objects_are_read_as_structs() {
        let body: Body = read(r#"{"items": [{"id": "a", "quantity": 2}], "note": null}"#).unwrap();
        assert_eq!(
            body,
            Body {
                items: vec![Line {
                    id: "a".into(),
                    quantity: 2
                }],
                note: None
            }
        );
    }

    #[test]
    fn integers_written_with_a_zero_fraction_are_integers() {
        let body: Body = read(r#"{"items": [{"id": "a", "quantity": 2.0}]}"#).unwrap();
        assert_eq!(body.items[0].quantity, 2);
        let body: Body = read(r#"{"items": [{"id": "a", "quantity": -3e2}]}"#).unwrap();
        assert_eq!(body.items[0].quantity, -300);
        for text in [
            r#"{"items": [{"id": "a", "quantity": 2.5}]}"#,
            r#"{"items": [{"id": "a", "quantity": 1e30}]}"#,
            r#"{"items": [{"id": "a", "quantity": 9007199254740993.0}]}"#,
            r#"{"items": [{"id": "a", "quantity": -9223372036854775809}]}"#,
        ] {
            assert!(read::<Body>(text).is_err(), "{text}");
        }
    }

    #[test]
    fn arrays_are_refused_where_a_struct_is_expected_at_every_depth() {
        let (message, field) = read::<Body>(r#"[[["a", 2]], null]"#).unwrap_err();
        assert!(message.contains("invalid type: sequence"), "{message}");
        assert_eq!(field, None);
        let (message, field) = read::<Body>(r#"{"items": [["a", 2]]}"#).unwrap_err();
        assert!(message.contains("invalid type: sequence"), "{message}");
        assert_eq!(field.as_deref(), Some("items[0]"));
    }

    #[test]
    fn errors_name_the_field_and_keep_serde_s_checks() {
        let check = |text: &str, expect_message: &str, expect_field: Option<&str>| {
            let (message, field) = read::<Body>(text).unwrap_err();
            assert!(message.contains(expect_message), "{text}: {message}");
            assert_eq!(field.as_deref(), expect_field, "{text}");
        };
        check(
            r#"{"items": [{"id": "a", "quantity": "2"}]}"#,
            r#"invalid type: string "2", expected i64"#,
            Some("items[0].quantity"),
        );
        check(
            r#"{"items": [{"id": "a", "quantity": 1.5}]}"#,
            "floating point",
            Some("items[0].quantity"),
        );
        check(
            r#"{"items": [{"id": "a", "quantity": 18446744073709551615}]}"#,
            "invalid value",
            Some("items[0].quantity"),
        );
        check(
            r#"{"items": [], "items": []}"#,
            "duplicate field `items`",
            None,
        );
        check(
            r#"{"items": [{"id": "a"}]}"#,
            "missing field `quantity`",
            Some("items[0]"),
        );
        check(
            r#"{"items": [], "colour": 1}"#,
            "unknown field `colour`",
            Some("colour"),
        );
        check("7", "invalid type: integer `7`", None);
    }

    #[test]
    fn quoted_input_is_shortened() {
        let long = "x".repeat(10_000);
        let (message, _) = read::<Body>(&format!(r#"{{"{long}": 1}}"#)).unwrap_err();
        assert!(message.len() < 300, "{} bytes", message.len());
        let (message, _) = read::<Body>(&format!(
            r#"{{"items": [{{"id": "a", "quantity": "{long}"}}]}}"#
        ))
        .unwrap_err();
        assert!(message.len() < 300, "{} bytes", message.len());
        assert!(message.contains('…'), "{message}");
    }
}
