//! RDS: the environment's MySQL database and its subnet group. One method
//! per call; the domain types are the resource modules'
//! ([`db_instance`], [`db_subnet_group`]).

use aws_sdk_rds::types::{DbInstance, DbSubnetGroup, Tag};
use aws_sdk_rds::Client;

use super::{aws_error, has_code, or_gone};
use crate::error::StepError;
use crate::model::{db_instance, db_subnet_group};
use crate::owner::Tags;

/// What RDS answers for an instance that does not exist.
const INSTANCE_NOT_FOUND: &[&str] = &["DBInstanceNotFound", "DBInstanceNotFoundFault"];
/// What RDS answers for a subnet group that does not exist.
const SUBNET_GROUP_NOT_FOUND: &[&str] = &["DBSubnetGroupNotFoundFault"];

fn tags(tags: &[(&str, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(*k).value(v).build())
        .collect()
}

fn tag_map(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

/// A subnet group as the domain sees it (its tags are another call).
fn subnet_group(g: &DbSubnetGroup) -> db_subnet_group::Observed {
    db_subnet_group::Observed {
        name: g.db_subnet_group_name().unwrap_or_default().into(),
        arn: g.db_subnet_group_arn().unwrap_or_default().into(),
        vpc_id: g.vpc_id().unwrap_or_default().into(),
        subnets: g
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_identifier().map(String::from))
            .collect(),
        tags: Tags::new(),
    }
}

/// An instance as the domain sees it.
fn instance(i: &DbInstance) -> db_instance::Observed {
    db_instance::Observed {
        identifier: i.db_instance_identifier().unwrap_or_default().into(),
        status: i.db_instance_status().unwrap_or_default().into(),
        endpoint: i.endpoint().and_then(|e| e.address()).map(String::from),
        port: i
            .endpoint()
            .and_then(|e| e.port())
            .unwrap_or(db_instance::DEFAULT_PORT),
        secret_arn: i
            .master_user_secret()
            .and_then(|s| s.secret_arn())
            .map(String::from),
        deletion_protection: i.deletion_protection().unwrap_or(false),
        tags: tag_map(i.tag_list()),
    }
}

#[derive(Clone, Debug)]
pub struct Rds {
    client: Client,
}

impl Rds {
    pub fn new(config: &aws_config::SdkConfig) -> Rds {
        Rds {
            client: Client::new(config),
        }
    }

    /// The subnet group named `name`, without its tags ([`Rds::tags_of`]).
    pub async fn subnet_group(
        &self,
        name: &str,
    ) -> Result<Option<db_subnet_group::Observed>, StepError> {
        let res = self
            .client
            .describe_db_subnet_groups()
            .db_subnet_group_name(name)
            .send()
            .await;
        let out = or_gone("RDS DescribeDBSubnetGroups", res, SUBNET_GROUP_NOT_FOUND)?;
        Ok(out.and_then(|o| o.db_subnet_groups().first().map(subnet_group)))
    }

    pub async fn tags_of(&self, arn: &str) -> Result<Tags, StepError> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .map_err(|e| aws_error("RDS ListTagsForResource", &e))?;
        Ok(tag_map(out.tag_list()))
    }

    pub async fn create_subnet_group(
        &self,
        wanted: &db_subnet_group::Wanted,
        tag_list: &[(&str, String)],
    ) -> Result<(), StepError> {
        self.client
            .create_db_subnet_group()
            .db_subnet_group_name(&wanted.name)
            .db_subnet_group_description(&wanted.description)
            .set_subnet_ids(Some(wanted.subnets.clone()))
            .set_tags(Some(tags(tag_list)))
            .send()
            .await
            .map_err(|e| aws_error("RDS CreateDBSubnetGroup", &e))?;
        Ok(())
    }

    pub async fn modify_subnet_group(
        &self,
        name: &str,
        subnets: &[String],
    ) -> Result<(), StepError> {
        self.client
            .modify_db_subnet_group()
            .db_subnet_group_name(name)
            .set_subnet_ids(Some(subnets.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error("RDS ModifyDBSubnetGroup", &e))?;
        Ok(())
    }

    pub async fn instance(
        &self,
        identifier: &str,
    ) -> Result<Option<db_instance::Observed>, StepError> {
        let res = self
            .client
            .describe_db_instances()
            .db_instance_identifier(identifier)
            .send()
            .await;
        let out = or_gone("RDS DescribeDBInstances", res, INSTANCE_NOT_FOUND)?;
        Ok(out.and_then(|o| o.db_instances().first().map(instance)))
    }

    /// Every instance in the account and region (all pages), each with its
    /// tags and managed secret: to find which instance a secret belongs to.
    pub async fn instances(&self) -> Result<Vec<db_instance::Observed>, StepError> {
        let found: Vec<DbInstance> = self
            .client
            .describe_db_instances()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("RDS DescribeDBInstances", &e))?;
        Ok(found.iter().map(instance).collect())
    }

    /// A private, encrypted MySQL instance whose master password RDS keeps in Secrets Manager.
    pub async fn create_instance(
        &self,
        wanted: &db_instance::Wanted,
        tag_list: &[(&str, String)],
    ) -> Result<(), StepError> {
        let res = self
            .client
            .create_db_instance()
            .db_instance_identifier(&wanted.identifier)
            .engine("mysql")
            .set_engine_version(wanted.engine_version.clone())
            .db_instance_class(&wanted.instance_class)
            .allocated_storage(wanted.allocated_storage)
            .storage_type("gp3")
            .storage_encrypted(true)
            .db_name(&wanted.db_name)
            .master_username(&wanted.username)
            .manage_master_user_password(true)
            .db_subnet_group_name(&wanted.subnet_group)
            .vpc_security_group_ids(&wanted.security_group)
            .publicly_accessible(false)
            .deletion_protection(wanted.deletion_protection)
            .copy_tags_to_snapshot(true)
            .backup_retention_period(7)
            .set_tags(Some(tags(tag_list)))
            .send()
            .await;
        match res {
            // A retry of a create that went through: the next describe finds it.
            Err(e)
                if has_code(
                    &e,
                    &["DBInstanceAlreadyExists", "DBInstanceAlreadyExistsFault"],
                ) =>
            {
                Ok(())
            }
            res => res
                .map(|_| ())
                .map_err(|e| aws_error("RDS CreateDBInstance", &e)),
        }
    }
}

/// Deletions, for teardown. Each treats "already gone" as done.
impl Rds {
    pub async fn disable_deletion_protection(&self, identifier: &str) -> Result<(), StepError> {
        self.client
            .modify_db_instance()
            .db_instance_identifier(identifier)
            .deletion_protection(false)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| aws_error("RDS ModifyDBInstance", &e))?;
        Ok(())
    }

    /// Delete the instance, with a final snapshot named `final_snapshot` when given.
    pub async fn delete_instance(
        &self,
        identifier: &str,
        final_snapshot: Option<&str>,
    ) -> Result<(), StepError> {
        let b = self
            .client
            .delete_db_instance()
            .db_instance_identifier(identifier)
            .delete_automated_backups(final_snapshot.is_none());
        let b = match final_snapshot {
            Some(name) => b
                .skip_final_snapshot(false)
                .final_db_snapshot_identifier(name),
            None => b.skip_final_snapshot(true),
        };
        match b.send().await {
            // Already being deleted.
            Err(e)
                if has_code(
                    &e,
                    &["InvalidDBInstanceState", "InvalidDBInstanceStateFault"],
                ) =>
            {
                Ok(())
            }
            res => or_gone("RDS DeleteDBInstance", res, INSTANCE_NOT_FOUND).map(|_| ()),
        }
    }

    pub async fn delete_subnet_group(&self, name: &str) -> Result<(), StepError> {
        let res = self
            .client
            .delete_db_subnet_group()
            .db_subnet_group_name(name)
            .send()
            .await;
        or_gone("RDS DeleteDBSubnetGroup", res, SUBNET_GROUP_NOT_FOUND).map(|_| ())
    }
}
