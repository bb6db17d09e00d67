//! `preflight`: reads what the account has ([`crate::preflight::Account`])
//! and gives the verdicts on the deployment before its first change. Only
//! reads. A refusal fails the deployment with `InvalidInput` (zero mutating
//! calls); a dry run carries the verdicts into its plan instead.

use serde_json::Value;
use tracing::Instrument;

use crate::aws::ec2::Ec2;
use crate::aws::elbv2::Elb;
use crate::deploy::DeployState;
use crate::error::StepError;
use crate::owner::Owner;
use crate::preflight::{self, Account, PreflightOutput, Vpc};
use crate::runtime::parse_input;

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

pub async fn handle(ec2: &Ec2, elb: &Elb, input: Value) -> Result<Value, StepError> {
    let state: DeployState = parse_input("preflight input", input)?;
    let d = &state.deployment;
    let span = tracing::info_span!("deployment", deployment_id = %d.id, step = "preflight");
    async {
        let owner = Owner::new(&d.app, &d.environment);
        let read = account(ec2, elb, &owner).await?;
        let out = PreflightOutput {
            checks: preflight::checks(&state.spec, &read),
        };
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
