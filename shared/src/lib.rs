//! stepdeploy's library: everything the Lambdas in `functions/` share.
//!
//! Pure modules (no AWS, no Lambda runtime): [`error`], [`spec`], [`naming`],
//! [`deploy`], [`webhook`], [`image`], [`ledger`], [`network`], [`registry`]
//! (its HTTP client behind the `registry` feature).
//! AWS calls live under [`aws`], one module per service, each behind a cargo
//! feature so a function links only the SDKs it calls.
//! [`runtime`] is the thin glue every `functions/*/main.rs` uses.

#[cfg(feature = "http-api")]
pub mod apigw;
pub mod aws;
pub mod deploy;
pub mod error;
pub mod image;
pub mod ledger;
pub mod naming;
pub mod network;
pub mod registry;
pub mod runtime;
pub mod spec;
pub mod steps;
pub mod taskdef;
pub mod teardown;
pub mod webhook;

pub use error::{ErrorKind, StepError};

/// Tag keys that mark a resource as owned by one environment of one app.
pub const TAG_APP: &str = "stepdeploy:app";
pub const TAG_ENVIRONMENT: &str = "stepdeploy:environment";
/// The deployment that created the resource (informational; ownership is app + environment).
pub const TAG_DEPLOYMENT: &str = "stepdeploy:deployment";
