//! ECR: whether an image exists, and its digest.

use aws_sdk_ecr::types::ImageIdentifier;
use aws_sdk_ecr::Client;

use super::{aws_error, has_code};
use crate::error::StepError;

#[derive(Clone, Debug)]
pub struct Ecr {
    client: Client,
}

impl Ecr {
    pub fn new(config: &aws_config::SdkConfig) -> Ecr {
        Ecr {
            client: Client::new(config),
        }
    }

    /// The digest of `repository:tag`, or `None` when it is not there (yet).
    pub async fn image_digest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<String>, StepError> {
        let res = self
            .client
            .describe_images()
            .repository_name(repository)
            .image_ids(ImageIdentifier::builder().image_tag(tag).build())
            .send()
            .await;
        match res {
            Ok(out) => Ok(out
                .image_details()
                .iter()
                .find_map(|d| d.image_digest().map(String::from))),
            Err(e) if has_code(&e, &["ImageNotFoundException"]) => Ok(None),
            Err(e) if has_code(&e, &["RepositoryNotFoundException"]) => {
                tracing::warn!(
                    repository,
                    "ECR repository does not exist yet; waiting for the image anyway"
                );
                Ok(None)
            }
            Err(e) => Err(aws_error("ECR DescribeImages", &e)),
        }
    }
}
