//! Rejected input values: one `InvalidField` per value and why, and the accumulator every use
//! case's parser uses so that all problems of a request are reported at once, not only the first.

use std::fmt::{Debug, Display};

/// How a field is called in the sentence that explains its problem ("topic is required").
///
/// Most use cases name their fields by plain text (`client_id`, `type`, `key_id`), the names the
/// caller used. A send names them by what they hold ([`super::SendField`]), because its two forms
/// have fields of the same name in different places; the HTTP adapter then says where.
pub trait FieldName: Copy + Debug + PartialEq {
    fn name(self) -> &'static str;
}

impl FieldName for &'static str {
    fn name(self) -> &'static str {
        self
    }
}

/// A value the caller supplied that broke a rule, and why. The HTTP adapter adds where it was
/// (body, path, header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField<F = &'static str> {
    pub field: F,
    pub description: String,
}

impl<F> InvalidField<F> {
    pub fn new(field: F, description: impl Into<String>) -> Self {
        Self { field, description: description.into() }
    }
}

/// Collects the invalid fields of one input while each field is parsed.
#[derive(Debug)]
pub struct InvalidFields<F = &'static str>(Vec<InvalidField<F>>);

impl<F> Default for InvalidFields<F> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<F: FieldName> InvalidFields<F> {
    /// Parses one raw field. `raw` is the value as sent, or why there is none ("is required",
    /// "must be a string", ...); either failure is recorded under `field` and gives `None`.
    pub fn parse<R, T, E: Display>(
        &mut self,
        field: F,
        raw: Result<R, &'static str>,
        parse: impl FnOnce(R) -> Result<T, E>,
    ) -> Option<T> {
        match raw {
            Ok(raw) => parse(raw).map_err(|e| self.add(field, e.to_string())).ok(),
            Err(why) => {
                self.add(field, format!("{} {why}", field.name()));
                None
            }
        }
    }

    pub fn add(&mut self, field: F, description: impl Into<String>) {
        self.0.push(InvalidField::new(field, description));
    }

    /// Adds problems found by another parser.
    pub fn extend(&mut self, fields: impl IntoIterator<Item = InvalidField<F>>) {
        self.0.extend(fields);
    }

    /// The parsed value when every field was valid; every invalid field otherwise.
    pub fn finish<T>(self, parsed: Option<T>) -> Result<T, Vec<InvalidField<F>>> {
        match parsed {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_kept_in_order() {
        let mut invalid = InvalidFields::default();
        let a: Option<u8> = invalid.parse("a", Ok("x"), |s: &str| s.parse::<u8>());
        let b: Option<u8> = invalid.parse("b", Err("is required"), |s: &str| s.parse::<u8>());
        let c = invalid.parse("c", Ok("7"), |s: &str| s.parse::<u8>());
        assert_eq!((a, b, c), (None, None, Some(7)));
        let fields = invalid.finish(c).unwrap_err();
        assert_eq!(fields.iter().map(|f| f.field).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(fields[1].description, "b is required");
    }

    #[test]
    fn a_typed_field_is_called_by_its_name() {
        #[derive(Debug, Clone, Copy, PartialEq)]
        struct Nested;
        impl FieldName for Nested {
            fn name(self) -> &'static str {
                "topic"
            }
        }
        let mut invalid = InvalidFields::default();
        invalid.parse(Nested, Err::<&str, _>("is required"), Ok::<_, String>);
        assert_eq!(invalid.finish::<()>(None).unwrap_err(), [InvalidField::new(Nested, "topic is required")]);
    }

    #[test]
    fn no_problem_gives_the_value() {
        assert_eq!(InvalidFields::<&str>::default().finish(Some(1)), Ok(1));
    }
}
