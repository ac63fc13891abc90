//! How span and event fields look in text logs: `name=value` separated by spaces, the message
//! bare, and without the `otel.*` fields that only steer the trace exporter (span kind and the
//! like), which would be noise on every line.
//!
//! Values are written with their control characters escaped (`\n`, `\r`, `\t`, `\u{1b}`, ...):
//! many come from callers (a notification id, a client id, a method), and a raw line break in one
//! would let a caller forge whole log lines; an escape sequence could rewrite a terminal.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::{
    field::RecordFields,
    fmt::{FormatFields, FormattedFields, format::Writer},
};

pub struct TextFields;

impl<'w> FormatFields<'w> for TextFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = Visitor { writer, first: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }

    /// Values recorded later (a response's status) join the span's fields with one space, and
    /// only when something is printed.
    fn add_fields(&self, current: &'w mut FormattedFields<Self>, fields: &tracing::span::Record<'_>) -> fmt::Result {
        let mut added = String::new();
        self.format_fields(Writer::new(&mut added), fields)?;
        if !added.is_empty() {
            if !current.fields.is_empty() {
                current.fields.push(' ');
            }
            current.fields.push_str(&added);
        }
        Ok(())
    }
}

struct Visitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if self.result.is_err() || name.starts_with("otel.") {
            return;
        }
        let separator = if std::mem::take(&mut self.first) { "" } else { " " };
        let mut out = Escaped(&mut self.writer);
        self.result = if name == "message" {
            write!(out, "{separator}{value:?}")
        } else {
            write!(out, "{separator}{name}={value:?}")
        };
    }
}

/// Passes text on with every control character escaped, so one value is one piece of one line.
struct Escaped<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(char::is_control) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().expect("found a char here");
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Captures what the subscriber writes.
    #[derive(Clone, Default)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    #[test]
    fn otel_fields_are_left_out_without_stray_spaces() {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(TextFields)
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_writer(capture.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span =
                tracing::info_span!("http", otel.kind = "server", request_id = "r1", status = tracing::field::Empty);
            span.record("status", 200);
            span.in_scope(|| tracing::info!(client_id = %"c1", "done"));
        });
        let out = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.trim(), r#"INFO http{request_id="r1" status=200}: done client_id=c1"#);
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut out = String::new();
        write!(Escaped(&mut out), "a\nINFO forged\r\t\u{1b}[31m\u{85}é").unwrap();
        assert_eq!(out, r"a\nINFO forged\r\t\u{1b}[31m\u{85}é");
    }
}
