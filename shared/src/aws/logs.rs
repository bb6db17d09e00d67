//! CloudWatch Logs: the environment's log group, one method per call.

use aws_sdk_cloudwatchlogs::types::LogGroup;
use aws_sdk_cloudwatchlogs::Client;

use super::{aws_error, has_code, or_gone};
use crate::error::StepError;
use crate::owner::Tags;
use crate::resources::log_group::Observed;

/// CloudWatch Logs' answer when the log group does not exist.
const GONE: &[&str] = &["ResourceNotFoundException"];

/// A described log group's ARN without the `:*` that `arn` ends with (the
/// form the tagging API takes).
fn group_arn(g: &LogGroup) -> String {
    match g.log_group_arn() {
        Some(arn) => arn.to_string(),
        None => g
            .arn()
            .map(|a| a.trim_end_matches(":*").to_string())
            .unwrap_or_default(),
    }
}

#[derive(Clone, Debug)]
pub struct Logs {
    client: Client,
}

impl Logs {
    /// A wrapper over a client built elsewhere (tests use mock clients).
    pub fn from_client(client: Client) -> Logs {
        Logs { client }
    }

    pub fn new(config: &aws_config::SdkConfig) -> Logs {
        Logs {
            client: Client::new(config),
        }
    }

    /// The group named exactly `name`, with its retention and tags. Groups
    /// come back in name order and a name sorts before every longer name it
    /// prefixes, so the first page holds it whenever it exists.
    pub async fn group(&self, name: &str) -> Result<Option<Observed>, StepError> {
        let out = self
            .client
            .describe_log_groups()
            .log_group_name_prefix(name)
            .send()
            .await
            .map_err(|e| aws_error("Logs DescribeLogGroups", &e))?;
        let Some(g) = out
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
        else {
            return Ok(None);
        };
        let arn = group_arn(g);
        let Some(tags) = self.tags(&arn).await? else {
            return Ok(None);
        };
        Ok(Some(Observed {
            arn,
            retention_days: g.retention_in_days(),
            tags,
        }))
    }

    /// A group's tags; `None` when it is gone.
    async fn tags(&self, arn: &str) -> Result<Option<Tags>, StepError> {
        let out = or_gone(
            "Logs ListTagsForResource",
            self.client
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await,
            GONE,
        )?;
        Ok(out.map(|o| {
            o.tags()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }))
    }

    /// Create the group; one that already exists (a second execution made it) is fine.
    pub async fn create_group(&self, name: &str, tags: &[(&str, String)]) -> Result<(), StepError> {
        let mut b = self.client.create_log_group().log_group_name(name);
        for (k, v) in tags {
            b = b.tags(*k, v);
        }
        match b.send().await {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &["ResourceAlreadyExistsException"]) => Ok(()),
            Err(e) => Err(aws_error("Logs CreateLogGroup", &e)),
        }
    }

    pub async fn set_retention(&self, name: &str, days: i32) -> Result<(), StepError> {
        self.client
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(days)
            .send()
            .await
            .map_err(|e| aws_error("Logs PutRetentionPolicy", &e))?;
        Ok(())
    }

    /// Delete the group; "already gone" is done.
    pub async fn delete_group(&self, name: &str) -> Result<(), StepError> {
        let result = self
            .client
            .delete_log_group()
            .log_group_name(name)
            .send()
            .await;
        or_gone("Logs DeleteLogGroup", result, GONE)?;
        Ok(())
    }
}
