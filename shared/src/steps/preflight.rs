//! `preflight`: reads what the account has ([`crate::preflight::Account`])
//! and the ports the image declares, and gives the verdicts on the
//! deployment before its first change. Only reads. A refusal fails the
//! deployment with `InvalidInput` (zero mutating calls); a dry run carries
//! the verdicts into its plan instead.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tracing::Instrument;

use crate::aws::ec2::Ec2;
use crate::aws::ecr::Ecr;
use crate::aws::elbv2::Elb;
use crate::deploy::{DeployState, ResolvedImage};
use crate::error::StepError;
use crate::image::{ecr_registry_parts, ImageRef};
use crate::owner::Owner;
use crate::preflight::{self, Account, PreflightOutput, Vpc};
use crate::registry::client::Registry;
use crate::registry::{parse_manifest, pick_platform, DeclaredPorts, Manifest};
use crate::runtime::parse_input;

/// What preflight reads with.
pub struct Clients {
    pub ec2: Ec2,
    pub elb: Elb,
    pub ecr: Ecr,
    pub registry: Registry,
    /// For an ECR image in another region than the stack's.
    pub config: aws_config::SdkConfig,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Result<Clients, StepError> {
        Ok(Clients {
            ec2: Ec2::new(config),
            elb: Elb::new(config),
            ecr: Ecr::new(config),
            registry: Registry::from_env()?,
            config: config.clone(),
        })
    }
}

/// The platform ECS runs a task definition without a `runtimePlatform` on:
/// the manifest of a multi-platform image preflight reads.
pub const ARCHITECTURE: &str = "amd64";

/// All of reading an image's config, well inside the function's timeout.
const PORTS_TIMEOUT: Duration = Duration::from_secs(20);

/// The ports the image declares, read from its registry: ECR through its
/// API (BatchGetImage, GetDownloadUrlForLayer), any other registry over the
/// distribution API. Never an error: what could not be read is a note.
pub async fn declared_ports(clients: &Clients, image: &ResolvedImage) -> DeclaredPorts {
    let read = async {
        let image = ImageRef::parse(&image.uri).map_err(|e| e.message)?;
        match ecr_registry_parts(&image.registry) {
            Some((account, region)) => ecr_config(clients, account, region, &image).await,
            None => clients.registry.image_config(&image, ARCHITECTURE).await,
        }
    };
    match tokio::time::timeout(PORTS_TIMEOUT, read).await {
        Ok(Ok(config)) => DeclaredPorts::from_config(&config),
        Ok(Err(why)) => DeclaredPorts::Unread(why),
        Err(_) => DeclaredPorts::Unread(format!(
            "the registry did not answer within {} s",
            PORTS_TIMEOUT.as_secs()
        )),
    }
}

async fn ecr_config(
    clients: &Clients,
    account: &str,
    region: &str,
    image: &ImageRef,
) -> Result<Bytes, String> {
    let other;
    let ecr = if clients.config.region().map(|r| r.as_ref()) == Some(region) {
        &clients.ecr
    } else {
        other = Ecr::in_region(&clients.config, region);
        &other
    };
    let digest = image
        .digest
        .as_deref()
        .ok_or("the image is not pinned by digest")?;
    let repository = &image.repository;
    let manifest = |digest: String| async move {
        let body = ecr
            .manifest(account, repository, &digest)
            .await
            .map_err(|e| e.message)?;
        parse_manifest(&body)
    };
    let config = match manifest(digest.to_string()).await? {
        Manifest::Image { config } => config,
        Manifest::Index(entries) => {
            let platform = pick_platform(&entries, ARCHITECTURE).ok_or_else(|| {
                format!(
                    "the image's index has no linux/{ARCHITECTURE} manifest, the platform ECS runs"
                )
            })?;
            match manifest(platform.to_string()).await? {
                Manifest::Image { config } => config,
                Manifest::Index(_) => return Err("an index points at another index".into()),
            }
        }
    };
    let url = ecr
        .blob_url(account, repository, &config)
        .await
        .map_err(|e| e.message)?;
    clients.registry.download(&url, &config).await
}

/// Read the account as preflight needs it.
pub async fn account(ec2: &Ec2, elb: &Elb, owner: &Owner) -> Result<Account, StepError> {
    let vpcs = ec2
        .all_vpcs()
        .await?
        .into_iter()
        .map(|v| Vpc {
            ours: owner.owns(&v.tags),
            id: v.id,
            cidr: v.cidr,
        })
        .collect();
    Ok(Account {
        vpcs,
        elastic_ips: ec2.elastic_ip_count().await?,
        elastic_ip_limit: ec2.elastic_ip_limit().await?,
        nat_gateways_per_zone: ec2.nat_gateways_per_zone().await?,
        load_balancers: elb.application_load_balancer_count().await?,
    })
}

pub async fn handle(clients: &Clients, input: Value) -> Result<Value, StepError> {
    let state: DeployState = parse_input("preflight input", input)?;
    let d = &state.deployment;
    let span = tracing::info_span!("deployment", deployment_id = %d.id, step = "preflight");
    async {
        let owner = Owner::new(&d.app, &d.environment);
        let read = account(&clients.ec2, &clients.elb, &owner).await?;
        let mut checks = preflight::checks(&state.spec, &read);
        let port = match &state.image {
            Some(image) => {
                let declared = declared_ports(clients, image).await;
                tracing::info!(image = %image.uri, declared = ?declared, "image's ports read");
                preflight::port_check(&state.spec, &image.uri, &declared)
            }
            None => Some(preflight::Check {
                about: "service.port".into(),
                verdict: preflight::Verdict::Note,
                detail: "the commit's image is not pushed yet, so service.port was not checked against the ports it declares".into(),
            }),
        };
        checks.extend(port);
        let out = PreflightOutput { checks };
        for c in &out.checks {
            tracing::warn!(about = %c.about, verdict = ?c.verdict, detail = %c.detail, "preflight");
        }
        match preflight::refusal(&out) {
            Some(why) if !d.dry_run => Err(StepError::invalid_input(why)),
            _ => {
                tracing::info!(findings = out.checks.len(), "preflight passed");
                Ok(serde_json::to_value(&out).expect("preflight's output serializes"))
            }
        }
    }
    .instrument(span)
    .await
}
