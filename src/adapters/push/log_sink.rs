//! `PushProvider` that delivers nothing: it logs (and optionally appends to a JSON-lines file) the
//! message a real provider would have been given. It applies the real providers' size limit, so
//! what works on a laptop works in production.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::Path,
    sync::Mutex,
};

use async_trait::async_trait;
use serde_json::json;
use tracing::info;

use super::render::render;
use crate::{
    domain::Delivery,
    ports::{Delivered, PushError, PushFailure, PushProvider},
};

const NAME: &str = "log_sink";

pub struct LogSink {
    file: Option<Mutex<File>>,
    placeholder_title: String,
}

impl LogSink {
    /// A sink that writes log lines and, with `path`, appends one JSON object per delivery there;
    /// the error is the file's, for the caller to name.
    pub fn new(path: Option<&Path>, placeholder_title: &str) -> std::io::Result<Self> {
        let file = path.map(|p| OpenOptions::new().create(true).append(true).open(p).map(Mutex::new)).transpose()?;
        Ok(Self { file, placeholder_title: placeholder_title.to_owned() })
    }
}

#[async_trait]
impl PushProvider for LogSink {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, delivery: &Delivery) -> Result<Delivered, PushFailure> {
        let message = render(delivery, &self.placeholder_title, NAME).map_err(PushFailure::before_sending)?;
        info!(
            client_id = %delivery.client_id,
            notification_id = %delivery.notification.id,
            push_type = %delivery.push_type,
            provider_message = %message,
            "log sink delivery"
        );
        if let Some(file) = &self.file {
            let mut line = serde_json::to_vec(&json!({
                "client_id": delivery.client_id.as_str(),
                "notification_id": delivery.notification.id.as_str(),
                "type": delivery.push_type.as_str(),
                "message": message,
            }))
            .expect("JSON values serialize");
            line.push(b'\n');
            // One write of a whole line to an O_APPEND file: lines never interleave. It is a
            // page-cache write of a few hundred bytes, cheap enough to do inline.
            let mut file = file.lock().expect("log sink file lock poisoned");
            file.write_all(&line).map_err(|e| PushFailure {
                error: PushError::Unavailable {
                    provider: NAME,
                    reason: format!("cannot write the log sink file: {e}"),
                },
                attempts: 1,
            })?;
        }
        Ok(Delivered { attempts: 1 })
    }
}
