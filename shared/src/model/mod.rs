//! The resource model: for each AWS resource kind the SDK wrappers create or
//! describe, the plain data they take (what is wanted) and answer (what is
//! observed). Below `crate::aws` so the wrappers can name it; each type's
//! behaviour (building it from the spec, planning with it) stays in its
//! `crate::resources` module, which re-exports it under the same name.

pub mod cluster;
pub mod db_instance;
pub mod db_subnet_group;
pub mod internet_gateway;
pub mod listener;
pub mod load_balancer;
pub mod log_group;
pub mod nat_gateway;
pub mod release_task;
pub mod route_table;
pub mod security_group;
pub mod service;
pub mod subnet;
pub mod target_group;
pub mod task_definition;
pub mod vpc;
