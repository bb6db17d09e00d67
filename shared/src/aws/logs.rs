//! CloudWatch Logs: the environment's log group.

use aws_sdk_cloudwatchlogs::Client;

use super::{aws_error, has_code};
use crate::error::StepError;

#[derive(Clone, Debug)]
pub struct Logs {
    client: Client,
}

impl Logs {
    pub fn new(config: &aws_config::SdkConfig) -> Logs {
        Logs {
            client: Client::new(config),
        }
    }

    /// `Some(retention days)` when the group exists (`Some(None)`: kept forever).
    pub async fn group_retention(&self, name: &str) -> Result<Option<Option<i32>>, StepError> {
        let out = self
            .client
            .describe_log_groups()
            .log_group_name_prefix(name)
            .send()
            .await
            .map_err(|e| aws_error("Logs DescribeLogGroups", &e))?;
        Ok(out
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
            .map(|g| g.retention_in_days()))
    }

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

    pub async fn delete_group(&self, name: &str) -> Result<(), StepError> {
        match self
            .client
            .delete_log_group()
            .log_group_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &["ResourceNotFoundException"]) => Ok(()),
            Err(e) => Err(aws_error("Logs DeleteLogGroup", &e)),
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
}
