//! Which spec a deployment deploys: the repository's `.stepdeploy.toml` at
//! the commit when it has one, else the spec an operator registered for
//! the app; within the operator's limits either way. Pure: the state
//! machine's `Read Spec` fetched the file, the ledger gave the registered spec.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DeployRequest;
use crate::error::StepError;
use crate::spec::{AppSpec, Limits, REPOSITORY_FILE};

/// What `Read Spec` found at the commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RepositorySpec {
    /// The file's text.
    Found { repository: String, text: String },
    /// The commit has no such file.
    Absent { repository: String },
    /// Not asked: no GitHub App is configured, or no repository is known.
    Off { why: String },
    /// GitHub could not be asked, or did not answer.
    Unreadable { repository: String, why: String },
}

impl RepositorySpec {
    /// From the request as `Read Spec` left it; a crashed `Read Spec`
    /// (its Catch leaves `{"Error", "Cause"}`) is unreadable, and a request
    /// that never went through it (an older execution) is off.
    pub fn of(request: &DeployRequest) -> RepositorySpec {
        let Some(value) = &request.repository_spec else {
            return RepositorySpec::Off {
                why: "the state machine did not read the repository".into(),
            };
        };
        serde_json::from_value(value.clone()).unwrap_or_else(|_| RepositorySpec::Unreadable {
            repository: request.repository().unwrap_or_default().into(),
            why: value
                .get("Cause")
                .or(value.get("Error"))
                .and_then(Value::as_str)
                .unwrap_or("Read Spec failed")
                .chars()
                .take(300)
                .collect(),
        })
    }
}

impl DeployRequest {
    /// The pull request whose preview this deploys.
    pub fn pull_request(&self) -> Option<u64> {
        self.trigger.as_ref().and_then(|t| t.pull_request)
    }

    /// The GitHub repository the request names (a push's, or a console run's).
    pub fn repository(&self) -> Option<&str> {
        self.repository
            .as_deref()
            .or(self.trigger.as_ref().and_then(|t| t.repository.as_deref()))
    }
}

/// The spec to deploy, and the request routed by it.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // made once per deployment
pub enum Chosen {
    Deploy {
        spec: AppSpec,
        request: DeployRequest,
        /// The spec came from the repository's file (the app is taken by that repository).
        from_file: bool,
    },
    /// Not for stepdeploy (no file and no registered spec, or a branch the
    /// file routes nowhere): the execution ends without a record.
    Ignore(String),
}

/// Choose the spec for `request`. `registered` is the operator's spec for
/// `request.app` (none when the push left the app to the file);
/// `file_deployed`: the app has deployed from its repository's file before.
/// A file GitHub could not give refuses the deployment, except for a
/// registered app that never deployed from a file: its registered spec is
/// what every earlier deployment ran, so a GitHub outage does not stop it.
pub fn choose(
    request: &DeployRequest,
    file: RepositorySpec,
    registered: Option<AppSpec>,
    file_deployed: bool,
    limits: &Limits,
) -> Result<Chosen, StepError> {
    let short = &request.commit[..request.commit.len().min(7)];
    let unrouted = request.app.is_empty();
    let (spec, from_file) = match file {
        RepositorySpec::Found { repository, text } => {
            let spec = AppSpec::from_repository_file(
                &text,
                &repository,
                registered.as_ref().map(|r| r.name.as_str()),
            )?;
            if !unrouted && spec.name != request.app {
                return Err(StepError::invalid_input(format!(
                    "{REPOSITORY_FILE} at {short} names the app {:?}, but this deployment is for {:?}: make name match, or leave it out",
                    spec.name, request.app
                )));
            }
            (spec, true)
        }
        RepositorySpec::Unreadable { repository, why } => match registered {
            // (`Begin Deployment` logs that the file could not be read.)
            Some(spec) if !file_deployed => (spec, false),
            _ => {
                return Err(StepError::invalid_input(format!(
                    "could not read {REPOSITORY_FILE} at {short} from {repository} on GitHub ({why}); nothing was changed. To fix: start this execution again with the same input once GitHub answers, or push again"
                )))
            }
        },
        RepositorySpec::Absent { .. } | RepositorySpec::Off { .. } => match registered {
            Some(spec) => (spec, false),
            None if unrouted => {
                return Ok(Chosen::Ignore(format!(
                    "{} has no {REPOSITORY_FILE} at {short} and no app spec is registered for it",
                    request.repository().unwrap_or("the repository")
                )))
            }
            None => {
                return Err(StepError::invalid_input(format!(
                    "app {:?} is not registered and its repository has no {REPOSITORY_FILE} at {short}: add the file (see README, Configure an app), or register a spec",
                    request.app
                )))
            }
        },
    };
    let mut request = request.clone();
    if let Some(branch) = request.branch.clone().filter(|_| request_is_push(&request)) {
        let Some(route) = spec.route(&branch) else {
            return Ok(Chosen::Ignore(format!(
                "branch {branch} maps to no environment in {}",
                if from_file {
                    REPOSITORY_FILE
                } else {
                    "the app's registered spec"
                }
            )));
        };
        if request.pull_request().is_some() && !route.preview {
            return Ok(Chosen::Ignore(format!(
                "branch {branch} feeds {}, not a preview: its pushes deploy it",
                route.environment
            )));
        }
        if unrouted {
            request.environment = route.environment;
        } else if route.environment != request.environment {
            return Err(StepError::invalid_input(format!(
                "{REPOSITORY_FILE} at {short} sends branch {branch} to {}, but the registered spec sent it to {}: make them agree (or remove the registered spec)",
                route.environment, request.environment
            )));
        }
    }
    if unrouted {
        if request.environment.is_empty() {
            return Err(StepError::invalid_input(
                "the request names no app and no branch: give app and environment",
            ));
        }
        request.app = spec.name.clone();
    }
    limits.check(
        &spec,
        if from_file {
            REPOSITORY_FILE
        } else {
            "the app's registered spec"
        },
    )?;
    Ok(Chosen::Deploy {
        spec,
        request,
        from_file,
    })
}

/// A push or a pull request: its branch routes it.
fn request_is_push(request: &DeployRequest) -> bool {
    request
        .trigger
        .as_ref()
        .is_some_and(|t| t.kind == "push" || t.kind == "pull_request")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::test_push as push;
    use serde_json::json;

    fn found(text: &str) -> RepositorySpec {
        RepositorySpec::Found {
            repository: "acme/flask-banking".into(),
            text: text.into(),
        }
    }

    fn registered() -> AppSpec {
        AppSpec::from_json(
            r#"{"name":"bank","repository":"acme/flask-banking","previews":{"enabled":true}}"#,
        )
        .unwrap()
    }

    fn deployed(c: Chosen) -> (AppSpec, DeployRequest, bool) {
        match c {
            Chosen::Deploy {
                spec,
                request,
                from_file,
            } => (spec, request, from_file),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_file_routes_an_unrouted_push() {
        let file = found("[service]\ndesired_count = 1\n[previews]\nenabled = true\n");
        let (spec, req, from_file) = deployed(
            choose(
                &push("", "", "main"),
                file.clone(),
                None,
                false,
                &Limits::default(),
            )
            .unwrap(),
        );
        assert!(from_file);
        assert_eq!(
            (req.app.as_str(), req.environment.as_str()),
            ("flaskbanking", "production")
        );
        assert_eq!(spec.service.desired_count, 1);
        let (_, req, _) = deployed(
            choose(
                &push("", "", "feature/x"),
                file,
                None,
                false,
                &Limits::default(),
            )
            .unwrap(),
        );
        assert_eq!(req.environment, "pr-feature-217d2");
        // Previews off: a feature branch is not for stepdeploy.
        match choose(
            &push("", "", "feature/x"),
            found(""),
            None,
            false,
            &Limits::default(),
        )
        .unwrap()
        {
            Chosen::Ignore(why) => assert!(
                why.contains("maps to no environment in .stepdeploy.toml"),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_file_wins_over_the_registered_spec_and_takes_its_name() {
        let (spec, req, from_file) = deployed(
            choose(
                &push("bank", "production", "main"),
                found("[service]\nport = 5000\n"),
                Some(registered()),
                false,
                &Limits::default(),
            )
            .unwrap(),
        );
        assert!(from_file);
        assert_eq!((spec.name.as_str(), spec.service.port), ("bank", 5000));
        assert_eq!(req.app, "bank");
        for (file, want) in [
            (
                "name = \"shop\"\n",
                "names the app \"shop\", but this deployment is for \"bank\"",
            ),
            (
                "[[environments]]\nname = \"live\"\nbranch = \"main\"\n",
                "sends branch main to live, but the registered spec sent it to production",
            ),
        ] {
            let e = choose(
                &push("bank", "production", "main"),
                found(file),
                Some(registered()),
                false,
                &Limits::default(),
            )
            .unwrap_err();
            assert!(e.message.contains(want), "{}", e.message);
        }
    }

    #[test]
    fn without_the_file_the_registered_spec_deploys_or_nothing_does() {
        for file in [
            RepositorySpec::Absent {
                repository: "acme/flask-banking".into(),
            },
            RepositorySpec::Off {
                why: "no App".into(),
            },
        ] {
            let (spec, _, from_file) = deployed(
                choose(
                    &push("bank", "production", "main"),
                    file.clone(),
                    Some(registered()),
                    false,
                    &Limits::default(),
                )
                .unwrap(),
            );
            assert_eq!((spec, from_file), (registered(), false));
            match choose(
                &push("", "", "main"),
                file.clone(),
                None,
                false,
                &Limits::default(),
            )
            .unwrap()
            {
                Chosen::Ignore(why) => assert!(
                    why.contains("acme/flask-banking has no .stepdeploy.toml at 0123456"),
                    "{why}"
                ),
                other => panic!("{other:?}"),
            }
            let console = DeployRequest {
                trigger: None,
                branch: None,
                ..push("bank", "production", "main")
            };
            let e = choose(&console, file, None, false, &Limits::default()).unwrap_err();
            assert!(
                e.message.contains("app \"bank\" is not registered"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn an_unreadable_file_refuses_rather_than_deploy_another_spec() {
        let unreadable = RepositorySpec::Unreadable {
            repository: "acme/flask-banking".into(),
            why: "GitHub answered 502".into(),
        };
        // Refused for an app that deploys from its file, or has no other spec.
        for (registered, file_deployed, request) in [
            (Some(registered()), true, push("bank", "production", "main")),
            (None, false, push("", "", "main")),
        ] {
            let e = choose(
                &request,
                unreadable.clone(),
                registered,
                file_deployed,
                &Limits::default(),
            )
            .unwrap_err();
            assert!(e.message.starts_with("could not read .stepdeploy.toml at 0123456 from acme/flask-banking on GitHub (GitHub answered 502)"), "{}", e.message);
        }
        // A registered app that never deployed from a file goes on with its
        // spec, as every deployment before it did.
        let (spec, _, from_file) = deployed(
            choose(
                &push("bank", "production", "main"),
                unreadable,
                Some(registered()),
                false,
                &Limits::default(),
            )
            .unwrap(),
        );
        assert_eq!((spec, from_file), (registered(), false));
        // A crashed Read Spec (its Catch output) reads as unreadable.
        let crashed = DeployRequest {
            repository_spec: Some(json!({"Error": "Lambda.Unknown", "Cause": "timed out"})),
            ..push("", "", "main")
        };
        assert_eq!(
            RepositorySpec::of(&crashed),
            RepositorySpec::Unreadable {
                repository: "acme/flask-banking".into(),
                why: "timed out".into()
            }
        );
        let read = DeployRequest {
            repository_spec: Some(
                json!({"status": "found", "repository": "acme/flask-banking", "text": "x = 1"}),
            ),
            ..push("", "", "main")
        };
        assert_eq!(RepositorySpec::of(&read), found("x = 1"));
        assert!(matches!(
            RepositorySpec::of(&push("", "", "main")),
            RepositorySpec::Off { .. }
        ));
    }

    #[test]
    fn limits_apply_to_every_spec() {
        let limits = Limits {
            max_desired_count: 1,
            ..Limits::default()
        };
        let e = choose(
            &push("", "", "main"),
            found("[service]\ndesired_count = 2\n"),
            None,
            false,
            &limits,
        )
        .unwrap_err();
        assert!(e.message.starts_with(".stepdeploy.toml asks for more than this deployer allows: service.desired_count 2 is over this deployer's limit of 1 (MaxDesiredCount)"), "{}", e.message);
        let e = choose(
            &push("bank", "production", "main"),
            RepositorySpec::Off { why: String::new() },
            Some(registered()),
            false,
            &limits,
        )
        .unwrap_err();
        assert!(
            e.message
                .starts_with("the app's registered spec asks for more"),
            "{}",
            e.message
        );
        let invalid = choose(
            &push("", "", "main"),
            found("[service]\nport = 0\n"),
            None,
            false,
            &limits,
        )
        .unwrap_err();
        assert!(
            invalid.message.starts_with(
                ".stepdeploy.toml is not valid: service.port must be between 1 and 65535"
            ),
            "{}",
            invalid.message
        );
    }
}
