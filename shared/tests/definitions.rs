//! The state machines name only errors the code can raise.

use std::collections::BTreeSet;

use serde_json::Value;
use stepdeploy::ErrorKind;

fn error_names(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "ErrorEquals" {
                    for name in v.as_array().expect("ErrorEquals is a list") {
                        out.insert(name.as_str().expect("error names are strings").to_string());
                    }
                } else {
                    error_names(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| error_names(v, out)),
        _ => {}
    }
}

#[test]
fn asl_files_name_only_known_errors() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../statemachine");
    let known: BTreeSet<&str> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".asl.json") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let asl: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut names = BTreeSet::new();
        error_names(&asl, &mut names);
        for name in names {
            assert!(
                known.contains(name.as_str())
                    || name.starts_with("States.")
                    || name.starts_with("Lambda.")
                    || name == "Sandbox.Timedout",
                "{}: ErrorEquals names {name:?}, which no step raises (known: {known:?})",
                path.display()
            );
        }
    }
    assert!(files >= 2, "found {files} definitions in {dir}");
}

/// A Lambda that crashed (`panic = "abort"`), timed out or was throttled is
/// retried by every Task of both machines: each step is safe to re-run.
#[test]
fn every_task_retries_lambda_crashes_and_transient_errors() {
    const WANTED: [&str; 7] = [
        "Retryable",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "Lambda.Unknown",
        "Sandbox.Timedout",
    ];
    fn tasks<'a>(states: &'a Value, out: &mut Vec<(String, &'a Value)>) {
        for (name, state) in states.as_object().expect("States is an object") {
            match state["Type"].as_str() {
                Some("Task") => out.push((name.clone(), state)),
                Some("Parallel") => {
                    for branch in state["Branches"].as_array().unwrap() {
                        tasks(&branch["States"], out);
                    }
                }
                _ => {}
            }
        }
    }
    for file in ["deploy.asl.json", "teardown.asl.json"] {
        let path = format!("{}/../statemachine/{file}", env!("CARGO_MANIFEST_DIR"));
        let asl: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut found = Vec::new();
        tasks(&asl["States"], &mut found);
        assert!(found.len() >= 5, "{file}: {} tasks", found.len());
        for (name, task) in found {
            let retried: BTreeSet<&str> = task["Retry"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
                        .filter_map(Value::as_str)
                        .collect()
                })
                .unwrap_or_default();
            for wanted in WANTED {
                assert!(
                    retried.contains(wanted),
                    "{file}: {name} does not retry {wanted}"
                );
            }
        }
    }
}

/// Each machine has a top-level `TimeoutSeconds`, a backstop should a
/// loop's deadline logic ever fail. It never cuts a run of the default spec
/// short: it is more than twice the longest one (a deployment's image wait
/// plus every step at its deadline; a teardown's every phase at its
/// deadline), which leaves room for retries and the polls around them. A
/// spec may raise its deadlines up to a day each, which can add up to more:
/// then the machine's timeout ends the execution first, as the README says.
#[test]
fn both_machines_end_after_a_bounded_time() {
    use stepdeploy::spec::{DeadlineSpec, ImageSpec};
    let d = DeadlineSpec::default();
    let deploy_steps =
        d.network_minutes + d.database_minutes + d.load_balancer_minutes + d.service_minutes;
    let deploy = ImageSpec::default().wait_timeout_seconds + deploy_steps * 60;
    let teardown = stepdeploy::teardown::PHASES.len() as u64 * d.teardown_minutes * 60;
    for (file, longest) in [("deploy.asl.json", deploy), ("teardown.asl.json", teardown)] {
        let path = format!("{}/../statemachine/{file}", env!("CARGO_MANIFEST_DIR"));
        let asl: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let timeout = asl["TimeoutSeconds"]
            .as_u64()
            .unwrap_or_else(|| panic!("{file}: no top-level TimeoutSeconds"));
        assert!(
            timeout > 2 * longest,
            "{file}: TimeoutSeconds {timeout} leaves too little room above the default spec's longest run ({longest} s)"
        );
    }
}

/// The sample events are the inputs their functions take.
#[test]
fn sample_events_parse_as_their_functions_inputs() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");
    let read = |name: &str| -> Value {
        let text = std::fs::read_to_string(format!("{dir}/{name}"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    for name in [
        "provision-network.deploy.json",
        "provision-database.deploy.json",
        "provision-load-balancer.deploy.json",
        "provision-service.deploy.json",
    ] {
        let state: stepdeploy::deploy::DeployState =
            serde_json::from_value(read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(state.deployment.app, "bank", "{name}");
    }
    let service: stepdeploy::deploy::DeployState =
        serde_json::from_value(read("provision-service.deploy.json")).unwrap();
    assert!(
        service.database.is_some() && service.load_balancer.is_some() && service.network.is_some()
    );
    for name in [
        "image-ready.wait.json",
        "image-ready.look-up.json",
        "image-ready.dockerhub.json",
        "image-ready.ecr-push.json",
    ] {
        stepdeploy::steps::image::ImageEvent::parse(read(name))
            .unwrap_or_else(|e| panic!("{name}: {}", e.message));
    }
    assert!(matches!(
        stepdeploy::steps::image::ImageEvent::parse(read("image-ready.look-up.json")),
        Ok(stepdeploy::steps::image::ImageEvent::LookUp(_))
    ));
    let wait = read("image-ready.wait.json");
    assert!(wait["task_token"].is_string());
    let _: stepdeploy::deploy::Deployment =
        serde_json::from_value(wait["deployment"].clone()).unwrap();
    for name in [
        "record-deployment.acquire.json",
        "record-deployment.stopped.json",
        "record-deployment.failed.json",
        "record-deployment.succeeded.json",
    ] {
        let event = read(name);
        let state: stepdeploy::deploy::DeployState = serde_json::from_value(event["state"].clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(state.deployment.app, "bank", "{name}");
    }
    let stopped: stepdeploy::deploy::DeployState =
        serde_json::from_value(read("record-deployment.stopped.json")["state"].clone()).unwrap();
    assert_eq!(stopped.error.unwrap().error, "Superseded");
    let acquire: stepdeploy::teardown::TeardownState =
        serde_json::from_value(read("teardown.acquire.json")["teardown"].clone()).unwrap();
    assert!(acquire.seq > 0 && acquire.execution_arn.contains(":execution:"));
    let begin = read("teardown.begin.json");
    let request: stepdeploy::teardown::TeardownRequest =
        serde_json::from_value(begin["request"].clone()).unwrap();
    stepdeploy::teardown::check_request(&request).unwrap();
    let report: stepdeploy::steps::github::ReportRequest =
        serde_json::from_value(read("github.report.json")).unwrap();
    assert_eq!(report.phase, stepdeploy::steps::github::Phase::InProgress);
    let spec: stepdeploy::steps::github::SpecRequest =
        serde_json::from_value(read("github.spec.json")).unwrap();
    assert_eq!(
        spec.request.repository(),
        Some("stepdeploy-samples/flask-banking")
    );
    let manual: stepdeploy::deploy::DeployRequest =
        serde_json::from_value(read("deploy.manual.json")).unwrap();
    stepdeploy::deploy::check_commit(&manual.commit).unwrap();
    let rotation: stepdeploy::steps::rotation::RotationEvent =
        serde_json::from_value(read("secret-rotated.rotation.json")).unwrap();
    assert!(rotation
        .rotated_secret()
        .unwrap()
        .contains(":secret:rds!db-"));
}

/// The spec shown in the README is a valid spec.
#[test]
fn the_readme_spec_example_is_valid() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = &readme[readme.find("## Configure an app").expect("section")..];
    let start = section.find("```json\n").expect("a json block") + "```json\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let spec =
        stepdeploy::spec::AppSpec::from_json(block).unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!(spec.name, "bank");
    let sample =
        stepdeploy::spec::AppSpec::from_json(include_str!("../../apps/bank.json")).unwrap();
    assert_eq!(sample.service.port, spec.service.port);
    // The repository file's example comes first, and is the sample's.
    let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let file = stepdeploy::spec::AppSpec::from_repository_file(block, &sample.repository, None)
        .unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!(file, sample);
}

/// The sample repository's `.stepdeploy.toml` is the registered sample
/// spec, in TOML: one schema, whichever way it is written.
#[test]
fn the_sample_repository_file_is_the_sample_spec() {
    let registered =
        stepdeploy::spec::AppSpec::from_json(include_str!("../../apps/bank.json")).unwrap();
    let file = stepdeploy::spec::AppSpec::from_repository_file(
        include_str!("../../apps/bank.stepdeploy.toml"),
        &registered.repository,
        None,
    )
    .unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!(file, registered);
}

/// The README's troubleshooting table has a row for every cause a failed
/// rollout is diagnosed with, under its error name, with the cause's fix.
#[test]
fn the_troubleshooting_table_names_every_rollout_cause_and_its_fix() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    for cause in stepdeploy::diagnosis::Cause::ALL {
        let row = format!("| execution fails `{}` ", cause.error().name());
        let line = readme
            .lines()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("no troubleshooting row {row}"));
        assert!(
            line.contains(&format!("To fix: {} |", cause.fix())),
            "{:?}: the row does not give the fix the message gives: {line}",
            cause
        );
    }
    let release = readme
        .lines()
        .find(|l| l.starts_with("| execution fails `ReleaseFailed` "))
        .expect("a troubleshooting row for ReleaseFailed");
    assert!(release.contains(&format!("To fix: {} |", stepdeploy::diagnosis::RELEASE_FIX)));
}
