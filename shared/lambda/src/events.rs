//! The outbound events the source app receives (through the events queue and
//! `notify`). The events themselves are [`crosspost_core::Event`]; this stamps each
//! with its id and time and queues it.

use crosspost_core::{Envelope, Event, EventSink};
use time::OffsetDateTime;

/// `event` with a new id (`evt_` and a time-ordered UUID) and the time `at`.
pub fn stamp(event: Event, at: OffsetDateTime) -> Envelope {
    Envelope::new(event, format!("evt_{}", uuid::Uuid::now_v7().simple()), at)
}

/// Queues `event` made at `at`; a failure is logged, never fails the caller's work.
pub async fn send(sink: Option<&impl EventSink>, event: Event, at: OffsetDateTime) {
    let Some(sink) = sink else {
        return;
    };
    let kind = event.kind();
    if let Err(e) = sink.send_all(&[stamp(event, at)]).await {
        tracing::error!(error = %e, event = kind, "could not queue the event");
    }
}
