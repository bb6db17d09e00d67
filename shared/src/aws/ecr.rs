//! ECR: whether an image exists, its digest, and its manifest and config.

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

    /// A client for another region's registry (an image in `eu-west-1` for a
    /// stack in `us-east-1`).
    pub fn in_region(config: &aws_config::SdkConfig, region: &str) -> Ecr {
        let conf = aws_sdk_ecr::config::Builder::from(config)
            .region(aws_config::Region::new(region.to_string()))
            .build();
        Ecr {
            client: Client::from_conf(conf),
        }
    }

    /// The manifest (or index) `digest` names in `registry`'s `repository`.
    pub async fn manifest(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
    ) -> Result<Vec<u8>, StepError> {
        let out = self
            .client
            .batch_get_image()
            .registry_id(registry)
            .repository_name(repository)
            .image_ids(ImageIdentifier::builder().image_digest(digest).build())
            .set_accepted_media_types(Some(
                crate::registry::MANIFEST_ACCEPT
                    .split(", ")
                    .map(String::from)
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| aws_error("ECR BatchGetImage", &e))?;
        out.images()
            .iter()
            .find_map(|i| i.image_manifest())
            .map(|m| m.as_bytes().to_vec())
            .ok_or_else(|| {
                let why = out
                    .failures()
                    .iter()
                    .filter_map(|f| f.failure_reason())
                    .collect::<Vec<_>>()
                    .join("; ");
                StepError::fatal(format!(
                    "ECR has no manifest {digest} in {repository}: {why}"
                ))
            })
    }

    /// Where to download a blob (a layer or the image config) of
    /// `registry`'s `repository`: a presigned URL, valid for minutes.
    pub async fn blob_url(
        &self,
        registry: &str,
        repository: &str,
        digest: &str,
    ) -> Result<String, StepError> {
        let out = self
            .client
            .get_download_url_for_layer()
            .registry_id(registry)
            .repository_name(repository)
            .layer_digest(digest)
            .send()
            .await
            .map_err(|e| aws_error("ECR GetDownloadUrlForLayer", &e))?;
        out.download_url()
            .map(String::from)
            .ok_or_else(|| StepError::retryable(format!("ECR gave no download URL for {digest}")))
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
