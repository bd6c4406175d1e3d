//! A receiver of the events Crosspost sends to the source app: it records each request
//! (headers and body) and answers 200, unless a fault says otherwise.

use crate::fault::Faults;
use crate::server::{Api, Controls, Incoming, Recorder, Reply};

use axum::http::StatusCode;
use serde_json::json;
use std::sync::Arc;

#[derive(Default)]
struct EventsApi {
    recorder: Recorder,
    faults: Faults,
}

impl Api for EventsApi {
    fn handle(&self, req: &Incoming) -> Reply {
        if req.method != "POST" {
            return Reply::json(405, json!({"error": "POST only"}));
        }
        Reply::json(200, json!({"received": true}))
    }

    fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    fn faults(&self) -> &Faults {
        &self.faults
    }

    fn unreadable_body(&self) -> Reply {
        Reply::json(400, json!({"error": "unreadable body"}))
    }

    fn server_error(&self, status: StatusCode) -> Reply {
        Reply::json(status.as_u16(), json!({"error": "server error"}))
    }

    fn rate_limited(&self, _req: &Incoming, _reset_unix: i64) -> Reply {
        Reply::json(429, json!({"error": "slow down"}))
    }
}

/// The source app's events endpoint, as far as tests need one.
#[derive(Clone)]
pub struct EventsReceiver {
    controls: Controls,
}

/// The controls every fake shares: `base_url`, `requests`, `clear_requests`,
/// `inject`, `inject_randomly`, `pending_faults`, `shutdown`.
impl std::ops::Deref for EventsReceiver {
    type Target = Controls;

    fn deref(&self) -> &Controls {
        &self.controls
    }
}

impl EventsReceiver {
    pub async fn start() -> std::io::Result<EventsReceiver> {
        let controls = Controls::start(Arc::new(EventsApi::default())).await?;
        Ok(EventsReceiver { controls })
    }

    /// The URL to configure as EventsUrl.
    pub fn url(&self) -> String {
        format!("{}/crosspost/events", self.controls.base_url())
    }
}
