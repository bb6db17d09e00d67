//! Secrets Manager: the webhook secrets (GitHub's signing secret, the Docker
//! Hub hook token), cached across invocations.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;

use super::{aws_error, has_code};
use crate::error::StepError;

/// A failed signature re-reads the secret at most this often, so a flood of
/// bad requests cannot turn into a flood of Secrets Manager calls.
const REFRESH_AFTER_FAILURE: Duration = Duration::from_secs(10);
/// A warm instance re-reads the secret this often, so a rotation that
/// revokes a value takes effect without waiting for a failure.
const MAX_AGE: Duration = Duration::from_secs(300);

/// The webhook secret's current and (during a rotation) previous value.
#[derive(Debug)]
pub struct WebhookSecret {
    client: Client,
    secret_id: String,
    cached: Mutex<Option<(Instant, Vec<Vec<u8>>)>>,
}

impl WebhookSecret {
    pub fn new(config: &aws_config::SdkConfig, secret_id: impl Into<String>) -> WebhookSecret {
        WebhookSecret {
            client: Client::new(config),
            secret_id: secret_id.into(),
            cached: Mutex::new(None),
        }
    }

    async fn read_stage(&self, stage: &str) -> Result<Option<Vec<u8>>, StepError> {
        let res = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(stage)
            .send()
            .await;
        match res {
            Ok(out) => Ok(out
                .secret_string()
                .map(|s| s.trim().as_bytes().to_vec())
                .or_else(|| out.secret_binary().map(|b| b.as_ref().to_vec()))),
            Err(e) if stage != "AWSCURRENT" && has_code(&e, &["ResourceNotFoundException"]) => {
                Ok(None)
            }
            // Secrets Manager being unreachable is ours to report as a 5xx, so GitHub retries.
            Err(e) => Err(aws_error("Secrets Manager GetSecretValue", &e)),
        }
    }

    async fn load(&self) -> Result<Vec<Vec<u8>>, StepError> {
        let mut values = Vec::new();
        for stage in ["AWSCURRENT", "AWSPREVIOUS"] {
            if let Some(v) = self.read_stage(stage).await? {
                if !v.is_empty() && !values.contains(&v) {
                    values.push(v);
                }
            }
        }
        if values.is_empty() {
            return Err(StepError::fatal(format!(
                "secret {} is empty",
                self.secret_id
            )));
        }
        *self.cached.lock().expect("secret cache lock") = Some((Instant::now(), values.clone()));
        Ok(values)
    }

    /// The cached values, read on first use and again once they are `MAX_AGE` old.
    pub async fn values(&self) -> Result<Vec<Vec<u8>>, StepError> {
        let cached = self.cached.lock().expect("secret cache lock").clone();
        match cached {
            Some((at, v)) if at.elapsed() < MAX_AGE => Ok(v),
            _ => self.load().await,
        }
    }

    /// Whether `accept` accepts the request under one of the values: the
    /// cached ones first, then (the secret may have been rotated since) fresh
    /// ones, re-read at most every `REFRESH_AFTER_FAILURE`. `Ok(Err(_))` is
    /// `accept`'s refusal; `Err` is Secrets Manager failing.
    pub async fn check<R>(
        &self,
        accept: impl Fn(&[Vec<u8>]) -> Result<(), R>,
    ) -> Result<Result<(), R>, StepError> {
        let refused = match accept(&self.values().await?) {
            Ok(()) => return Ok(Ok(())),
            Err(refused) => refused,
        };
        match self.refresh_after_failure().await? {
            Some(fresh) if accept(&fresh).is_ok() => Ok(Ok(())),
            _ => Ok(Err(refused)),
        }
    }

    /// Re-read after a check failed; `None` when the cache is too fresh to be
    /// worth re-reading.
    async fn refresh_after_failure(&self) -> Result<Option<Vec<Vec<u8>>>, StepError> {
        let fresh = self
            .cached
            .lock()
            .expect("secret cache lock")
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < REFRESH_AFTER_FAILURE);
        if fresh {
            Ok(None)
        } else {
            self.load().await.map(Some)
        }
    }
}
