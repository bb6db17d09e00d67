//! RDS: the environment's MySQL database and its subnet group.

use std::collections::BTreeMap;

use aws_sdk_rds::types::Tag;
use aws_sdk_rds::Client;

use super::{aws_error, has_code};
use crate::error::StepError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSubnetGroupInfo {
    pub name: String,
    pub arn: String,
    pub vpc_id: String,
    pub subnets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbInstanceInfo {
    pub identifier: String,
    pub status: String,
    pub endpoint: Option<String>,
    pub port: i32,
    pub secret_arn: Option<String>,
    pub publicly_accessible: bool,
    pub deletion_protection: bool,
    pub tags: BTreeMap<String, String>,
}

/// What a new database instance is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDbInstance<'a> {
    pub identifier: &'a str,
    pub instance_class: &'a str,
    pub allocated_storage: i32,
    pub engine_version: Option<&'a str>,
    pub db_name: &'a str,
    pub username: &'a str,
    pub subnet_group: &'a str,
    pub security_group: &'a str,
    pub deletion_protection: bool,
    pub tags: &'a [(&'a str, String)],
}

fn tags(tags: &[(&str, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(*k).value(v).build())
        .collect()
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

    pub async fn subnet_group(&self, name: &str) -> Result<Option<DbSubnetGroupInfo>, StepError> {
        match self
            .client
            .describe_db_subnet_groups()
            .db_subnet_group_name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.db_subnet_groups().first().map(|g| DbSubnetGroupInfo {
                name: g.db_subnet_group_name().unwrap_or_default().into(),
                arn: g.db_subnet_group_arn().unwrap_or_default().into(),
                vpc_id: g.vpc_id().unwrap_or_default().into(),
                subnets: g
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier().map(String::from))
                    .collect(),
            })),
            Err(e) if has_code(&e, &["DBSubnetGroupNotFoundFault"]) => Ok(None),
            Err(e) => Err(aws_error("RDS DescribeDBSubnetGroups", &e)),
        }
    }

    pub async fn tags_of(&self, arn: &str) -> Result<BTreeMap<String, String>, StepError> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .map_err(|e| aws_error("RDS ListTagsForResource", &e))?;
        Ok(out
            .tag_list()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect())
    }

    pub async fn create_subnet_group(
        &self,
        name: &str,
        description: &str,
        subnets: &[String],
        tag_list: &[(&str, String)],
    ) -> Result<(), StepError> {
        self.client
            .create_db_subnet_group()
            .db_subnet_group_name(name)
            .db_subnet_group_description(description)
            .set_subnet_ids(Some(subnets.to_vec()))
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

    pub async fn instance(&self, identifier: &str) -> Result<Option<DbInstanceInfo>, StepError> {
        match self
            .client
            .describe_db_instances()
            .db_instance_identifier(identifier)
            .send()
            .await
        {
            Ok(out) => Ok(out.db_instances().first().map(|i| DbInstanceInfo {
                identifier: i.db_instance_identifier().unwrap_or_default().into(),
                status: i.db_instance_status().unwrap_or_default().into(),
                endpoint: i.endpoint().and_then(|e| e.address()).map(String::from),
                port: i.endpoint().and_then(|e| e.port()).unwrap_or(3306),
                secret_arn: i
                    .master_user_secret()
                    .and_then(|s| s.secret_arn())
                    .map(String::from),
                publicly_accessible: i.publicly_accessible().unwrap_or(false),
                deletion_protection: i.deletion_protection().unwrap_or(false),
                tags: i
                    .tag_list()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect(),
            })),
            Err(e) if has_code(&e, &["DBInstanceNotFound", "DBInstanceNotFoundFault"]) => Ok(None),
            Err(e) => Err(aws_error("RDS DescribeDBInstances", &e)),
        }
    }

    /// A private, encrypted MySQL instance whose master password RDS keeps in Secrets Manager.
    pub async fn create_instance(&self, new: &NewDbInstance<'_>) -> Result<(), StepError> {
        let res = self
            .client
            .create_db_instance()
            .db_instance_identifier(new.identifier)
            .engine("mysql")
            .set_engine_version(new.engine_version.map(String::from))
            .db_instance_class(new.instance_class)
            .allocated_storage(new.allocated_storage)
            .storage_type("gp3")
            .storage_encrypted(true)
            .db_name(new.db_name)
            .master_username(new.username)
            .manage_master_user_password(true)
            .db_subnet_group_name(new.subnet_group)
            .vpc_security_group_ids(new.security_group)
            .publicly_accessible(false)
            .deletion_protection(new.deletion_protection)
            .copy_tags_to_snapshot(true)
            .backup_retention_period(7)
            .set_tags(Some(tags(new.tags)))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // A retry of a create that went through: the next check finds it.
            Err(e)
                if has_code(
                    &e,
                    &["DBInstanceAlreadyExists", "DBInstanceAlreadyExistsFault"],
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(aws_error("RDS CreateDBInstance", &e)),
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
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &["DBInstanceNotFound", "DBInstanceNotFoundFault"]) => Ok(()),
            // Already being deleted.
            Err(e)
                if has_code(
                    &e,
                    &["InvalidDBInstanceState", "InvalidDBInstanceStateFault"],
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(aws_error("RDS DeleteDBInstance", &e)),
        }
    }

    pub async fn delete_subnet_group(&self, name: &str) -> Result<(), StepError> {
        match self
            .client
            .delete_db_subnet_group()
            .db_subnet_group_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &["DBSubnetGroupNotFoundFault"]) => Ok(()),
            Err(e) => Err(aws_error("RDS DeleteDBSubnetGroup", &e)),
        }
    }
}
