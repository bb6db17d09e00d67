//! The data of db instances: what the SDK wrapper takes and answers,
//! without behaviour (that stays in `crate::resources::db_instance`).

use crate::owner::Tags;

/// The port MySQL listens on unless RDS says otherwise.
pub const DEFAULT_PORT: i32 = 3306;

/// The instance an environment wants (what it is created with; stepdeploy
/// does not modify an existing instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub identifier: String,
    pub instance_class: String,
    /// GiB of gp3 storage.
    pub allocated_storage: i32,
    pub engine_version: Option<String>,
    pub db_name: String,
    pub username: String,
    pub subnet_group: String,
    pub security_group: String,
    pub deletion_protection: bool,
}

/// An instance as RDS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub identifier: String,
    /// `creating`, `backing-up`, `available`, `deleting`, `failed`, …
    pub status: String,
    pub endpoint: Option<String>,
    pub port: i32,
    /// The Secrets Manager secret RDS keeps the master credentials in.
    pub secret_arn: Option<String>,
    pub deletion_protection: bool,
    pub tags: Tags,
}
