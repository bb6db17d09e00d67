//! One module per AWS resource kind, each holding that resource's whole
//! lifecycle, in this order:
//!
//! - the **wanted** value, built from the spec and the names;
//! - `observe`: what exists (ledger first, then ownership tags, then the
//!   name), owned or in the way;
//! - a **pure** `plan(observed, wanted) -> Change` (create / update what /
//!   nothing / wait why / conflict why), table-tested in the module;
//! - `apply`: the calls that make the change;
//! - teardown's side: a pure `removal(observed) -> Removal` and `remove`.
//!
//! The data the SDK wrappers take and answer (`Wanted`, `Observed`) lives in
//! [`crate::model`], re-exported here under the same names; the context a
//! resource converges with, and teardown's remove drivers, in
//! [`crate::converge`]. Nothing here names `crate::steps`.
//!
//! Steps (`crate::steps`) walk resources through observe -> plan -> apply in
//! dependency order; a dry run stops after plan. The AWS halves sit behind
//! the service's cargo feature, so the pure halves build (and test) alone.

// Network (provision-network).
pub mod internet_gateway;
pub mod nat_gateway;
pub mod route_table;
pub mod security_group;
pub mod subnet;
pub mod vpc;
// Database (provision-database).
pub mod db_instance;
pub mod db_subnet_group;
// Load balancer (provision-load-balancer).
pub mod listener;
pub mod load_balancer;
pub mod target_group;
// Service (provision-service).
pub mod cluster;
pub mod log_group;
pub mod release_task;
pub mod service;
pub mod task_definition;
// Previews (record-deployment sets it, teardown removes it).
pub mod preview_expiry;
