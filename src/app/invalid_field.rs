//! Rejected input values: one `InvalidField` per value and why, and the accumulator every use
//! case's parser uses so that all problems of a request are reported at once, not only the first.

use std::fmt::Display;

/// A value the caller supplied that broke a rule. `field` is the name the caller used
/// (`client_id`, `payload.blob`, ...); the HTTP adapter adds where it was (body, path, header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    pub field: &'static str,
    pub description: String,
}

impl InvalidField {
    pub fn new(field: &'static str, description: impl Into<String>) -> Self {
        Self { field, description: description.into() }
    }
}

/// Collects the invalid fields of one input while each field is parsed.
#[derive(Debug, Default)]
pub struct InvalidFields(Vec<InvalidField>);

impl InvalidFields {
    /// Parses one raw field. `raw` is the value as sent, or why there is none ("is required",
    /// "must be a string", ...); either failure is recorded under `field` and gives `None`.
    pub fn parse<R, T, E: Display>(
        &mut self,
        field: &'static str,
        raw: Result<R, &'static str>,
        parse: impl FnOnce(R) -> Result<T, E>,
    ) -> Option<T> {
        match raw {
            Ok(raw) => parse(raw).map_err(|e| self.add(field, e.to_string())).ok(),
            Err(why) => {
                // "payload.topic" is called "topic" in the sentence.
                let short = field.rsplit('.').next().unwrap_or(field);
                self.add(field, format!("{short} {why}"));
                None
            }
        }
    }

    pub fn add(&mut self, field: &'static str, description: impl Into<String>) {
        self.0.push(InvalidField::new(field, description));
    }

    /// Adds problems found by another parser.
    pub fn extend(&mut self, fields: impl IntoIterator<Item = InvalidField>) {
        self.0.extend(fields);
    }

    /// The parsed value when every field was valid; every invalid field otherwise.
    pub fn finish<T>(self, parsed: Option<T>) -> Result<T, Vec<InvalidField>> {
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
        let b: Option<u8> = invalid.parse("payload.b", Err("is required"), |s: &str| s.parse::<u8>());
        let c = invalid.parse("c", Ok("7"), |s: &str| s.parse::<u8>());
        assert_eq!((a, b, c), (None, None, Some(7)));
        let fields = invalid.finish(c).unwrap_err();
        assert_eq!(fields.iter().map(|f| f.field).collect::<Vec<_>>(), ["a", "payload.b"]);
        assert_eq!(fields[1].description, "b is required");
    }

    #[test]
    fn no_problem_gives_the_value() {
        assert_eq!(InvalidFields::default().finish(Some(1)), Ok(1));
    }
}
