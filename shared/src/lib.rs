//! stepdeploy's library: everything the Lambdas in `functions/` share.
//!
//! | module | what it holds | AWS? |
//! |---|---|---|
//! | [`spec`] | the app spec, its defaults (stated once) and validation | pure |
//! | [`naming`] | every resource name, from (app, environment), within AWS limits | pure |
//! | [`owner`] | ownership: the [`owner::Owner`] tags and filters, roles, ledger kinds | pure |
//! | [`plan`] | the decisions: [`plan::Change`], [`plan::Removal`], plan lines, step reports | pure |
//! | [`model`] | the data of each resource kind the SDK wrappers take and answer (`Wanted`, `Observed`) | pure |
//! | [`resources`] | one module per AWS resource kind: wanted, observe, pure plan, apply, remove | plan pure; the rest behind the service's feature |
//! | [`converge`] | the step context (`Ctx`, `Go`), deciding and remembering a change, the remove drivers | pure helpers; the context behind `dynamodb` |
//! | [`deploy`] | deployment ids, the request and its resolution, what `Begin Deployment` decides, the state the deploy machine carries | pure |
//! | [`teardown`] | who may tear down what, in which order | pure |
//! | [`network`] | address ranges of the VPC and subnets | pure |
//! | [`webhook`] | GitHub's and Docker Hub's webhooks: HTTP plumbing, authentication, routing | pure |
//! | [`image`], [`registry`] | image references, registry events, Docker Hub digests | pure (the registry client behind `registry`) |
//! | [`github`] | what a deployment reports to GitHub as the stack's App: JWT, statuses, retries | pure (the client behind `github`) |
//! | [`diagnosis`] | why a rollout failed: the facts, the named cause, one message | pure |
//! | [`preflight`] | what the account and the image say about a deployment before its first change | pure |
//! | [`ledger`] | the DynamoDB record model | pure |
//! | [`error`] | [`StepError`] and the stable error names Step Functions match | pure |
//! | [`aws`] | thin SDK wrappers, one module per service, each behind a cargo feature | AWS |
//! | [`steps`] | what each Lambda does: a provisioning step walks its resources in order | AWS |
//! | `https` | the HTTPS connector of the registries' and GitHub's clients | - |
//! | [`apigw`] | the front door of the HTTP functions: API Gateway requests in, responses out | - |
//! | [`runtime`] | the glue every `functions/*/main.rs` uses: logs, error names | - |
//!
//! Imports run one way, down these floors: `steps` → `resources` → `converge`
//! → `aws` → the domain (every pure module above, `apigw` among them) →
//! `error`, `runtime`, `https`. No circle between top-level modules; a file's
//! own tests may reach anywhere. `tests/test_architecture.py` enforces it
//! (see the README's "Architecture").

#[cfg(feature = "http-api")]
pub mod apigw;
pub mod aws;
pub mod converge;
pub mod deploy;
pub mod diagnosis;
pub mod error;
pub mod github;
#[cfg(any(feature = "registry", feature = "github"))]
pub mod https;
pub mod image;
pub mod lease;
pub mod ledger;
pub mod model;
pub mod naming;
pub mod network;
pub mod owner;
pub mod plan;
pub mod preflight;
pub mod registry;
pub mod resources;
pub mod runtime;
pub mod spec;
pub mod steps;
pub mod teardown;
pub mod webhook;

pub use error::{ErrorKind, StepError};
