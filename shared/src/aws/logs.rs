//! CloudWatch Logs: the environment's log group, one method per call.

use aws_sdk_cloudwatchlogs::types::LogGroup;
use aws_sdk_cloudwatchlogs::Client;

use super::{aws_error, has_code, or_gone};
use crate::error::StepError;
use crate::model::log_group::Observed;
use crate::owner::Tags;

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

    /// The last `n` lines of a log stream, oldest first (none when the
    /// stream does not exist: the task never wrote).
    pub async fn last_lines(
        &self,
        group: &str,
        stream: &str,
        n: i32,
    ) -> Result<Vec<String>, StepError> {
        let result = self
            .client
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .limit(n)
            .start_from_head(false)
            .send()
            .await;
        let Some(out) = or_gone("Logs GetLogEvents", result, &["ResourceNotFoundException"])?
        else {
            return Ok(Vec::new());
        };
        Ok(out
            .events()
            .iter()
            .filter_map(|e| e.message().map(String::from))
            .collect())
    }

    /// The group named exactly `name`, with its retention and tags. The
    /// prefix also matches every longer name, and DescribeLogGroups pages
    /// (50 groups a page), so pages are read until the group turns up. AWS
    /// sorts by name, which puts it first when it exists (one request); the
    /// answer does not depend on that order, or on a page not being empty.
    pub async fn group(&self, name: &str) -> Result<Option<Observed>, StepError> {
        let mut groups = self
            .client
            .describe_log_groups()
            .log_group_name_prefix(name)
            .into_paginator()
            .items()
            .send();
        let g = loop {
            let next = groups
                .try_next()
                .await
                .map_err(|e| aws_error("Logs DescribeLogGroups", &e))?;
            match next {
                Some(g) if g.log_group_name() == Some(name) => break g,
                Some(_) => {}
                None => return Ok(None),
            }
        };
        let arn = group_arn(&g);
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatchlogs::operation::describe_log_groups::DescribeLogGroupsOutput;
    use aws_sdk_cloudwatchlogs::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    const NAME: &str = "/stepdeploy/bank/production";
    const ARN: &str = "arn:aws:logs:eu-west-1:123456789012:log-group:/stepdeploy/bank/production";

    fn group(name: &str) -> LogGroup {
        LogGroup::builder()
            .log_group_name(name)
            .log_group_arn(format!(
                "arn:aws:logs:eu-west-1:123456789012:log-group:{name}"
            ))
            .retention_in_days(30)
            .build()
    }

    #[tokio::test]
    async fn pages_are_read_until_the_group_turns_up() {
        let first = mock!(Client::describe_log_groups)
            .match_requests(|r| r.log_group_name_prefix() == Some(NAME) && r.next_token().is_none())
            .then_output(|| {
                DescribeLogGroupsOutput::builder()
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(Client::describe_log_groups)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(|| {
                DescribeLogGroupsOutput::builder()
                    .log_groups(group(NAME))
                    .log_groups(group(&format!("{NAME}-eu")))
                    .next_token("page-3")
                    .build()
            });
        let third = mock!(Client::describe_log_groups)
            .match_requests(|r| r.next_token() == Some("page-3"))
            .then_output(|| DescribeLogGroupsOutput::builder().build());
        let tags = mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_arn() == Some(ARN))
            .then_output(|| {
                ListTagsForResourceOutput::builder()
                    .tags("stepdeploy:app", "bank")
                    .build()
            });
        let logs = Logs::from_client(mock_client!(
            aws_sdk_cloudwatchlogs,
            RuleMode::MatchAny,
            [&first, &second, &third, &tags]
        ));

        let found = logs.group(NAME).await.unwrap().expect("on the second page");

        assert_eq!(found.arn, ARN);
        assert_eq!(found.retention_days, Some(30));
        assert_eq!(
            found.tags.get("stepdeploy:app").map(String::as_str),
            Some("bank")
        );
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
        assert_eq!(third.num_calls(), 0, "no page is read after the group's");
    }
}
