//! Just enough protobuf decoding to read an OTLP/HTTP `ExportTraceServiceRequest`: the spans with
//! their ids, parents, kinds and attributes, and the resource attributes. Written out here so the
//! test needs no protobuf code generation; field numbers are those of opentelemetry-proto's
//! `trace.proto`, `resource.proto` and `common.proto`.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// 1 internal, 2 server, 3 client, ...
    pub kind: u64,
    pub attributes: BTreeMap<String, String>,
    /// The `resource` attributes of the batch the span came in (`service.name`, ...).
    pub resource: BTreeMap<String, String>,
}

/// One protobuf field: its number and its value (varint, or the bytes of a length-delimited or
/// fixed-width field).
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = buf[*pos];
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    value
}

fn fields(buf: &[u8]) -> Vec<(u64, Value<'_>)> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = varint(buf, &mut pos);
        let value = match key & 7 {
            0 => Value::Varint(varint(buf, &mut pos)),
            1 => {
                pos += 8;
                Value::Bytes(&buf[pos - 8..pos])
            }
            2 => {
                let len = varint(buf, &mut pos) as usize;
                pos += len;
                Value::Bytes(&buf[pos - len..pos])
            }
            5 => {
                pos += 4;
                Value::Bytes(&buf[pos - 4..pos])
            }
            other => panic!("unexpected protobuf wire type {other}"),
        };
        out.push((key >> 3, value));
    }
    out
}

fn bytes<'a>(fields: &'a [(u64, Value<'a>)], number: u64) -> impl Iterator<Item = &'a [u8]> + 'a {
    fields.iter().filter(move |(n, _)| *n == number).filter_map(|(_, v)| match v {
        Value::Bytes(b) => Some(*b),
        Value::Varint(_) => None,
    })
}

fn string(fields: &[(u64, Value<'_>)], number: u64) -> String {
    bytes(fields, number).next().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
}

fn hex_of(fields: &[(u64, Value<'_>)], number: u64) -> String {
    bytes(fields, number).next().map(hex::encode).unwrap_or_default()
}

/// `AnyValue` as text: strings as they are, numbers and booleans in decimal.
fn any_value(buf: &[u8]) -> String {
    match fields(buf).first() {
        Some((1, Value::Bytes(b))) => String::from_utf8_lossy(b).into_owned(),
        Some((2, Value::Varint(v))) => (*v != 0).to_string(),
        Some((3, Value::Varint(v))) => (*v as i64).to_string(),
        Some((4, Value::Bytes(b))) => f64::from_le_bytes((*b).try_into().unwrap()).to_string(),
        _ => String::new(),
    }
}

/// `repeated KeyValue` at `number`.
fn attributes(message: &[(u64, Value<'_>)], number: u64) -> BTreeMap<String, String> {
    bytes(message, number)
        .map(|kv| {
            let kv = fields(kv);
            (string(&kv, 1), bytes(&kv, 2).next().map(any_value).unwrap_or_default())
        })
        .collect()
}

/// Every span in an `ExportTraceServiceRequest`.
pub fn decode_export(body: &[u8]) -> Vec<Span> {
    let mut spans = Vec::new();
    for resource_spans in bytes(&fields(body), 1) {
        let rs = fields(resource_spans);
        let resource = bytes(&rs, 1).next().map(|r| attributes(&fields(r), 1)).unwrap_or_default();
        for scope_spans in bytes(&rs, 2) {
            for span in bytes(&fields(scope_spans), 2) {
                let f = fields(span);
                let kind = f.iter().find_map(|(n, v)| match (n, v) {
                    (6, Value::Varint(k)) => Some(*k),
                    _ => None,
                });
                spans.push(Span {
                    trace_id: hex_of(&f, 1),
                    span_id: hex_of(&f, 2),
                    parent_span_id: hex_of(&f, 4),
                    name: string(&f, 5),
                    kind: kind.unwrap_or(0),
                    attributes: attributes(&f, 9),
                    resource: resource.clone(),
                });
            }
        }
    }
    spans
}
