//! The outbound events the source app receives (through the events queue and
//! `notify`): one envelope for every kind.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `{"type", "id", "timestamp", "data"}`; the id is new for every event.
pub fn envelope(kind: &str, data: Value) -> Value {
    let now = OffsetDateTime::now_utc();
    json!({
        "type": kind,
        "id": format!("evt_{}", uuid::Uuid::now_v7().simple()),
        "timestamp": now.format(&Rfc3339).unwrap_or_default(),
        "data": data,
    })
}
