//! Resource names: one pure function of (app, environment) per resource,
//! within every AWS length and character limit.

use sha2::{Digest, Sha256};

use crate::error::StepError;

pub const MAX_APP: usize = 12;
pub const MAX_ENVIRONMENT: usize = 16;

/// `[a-z][a-z0-9-]*`, no `--`, no trailing `-`: valid inside every AWS name
/// stepdeploy builds (RDS identifiers are the strictest).
fn check_label(kind: &str, value: &str, max: usize) -> Result<(), StepError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.ends_with('-')
        && !value.contains("--");
    if ok {
        Ok(())
    } else {
        Err(StepError::invalid_input(format!(
            "{kind} name {value:?} must be 1-{max} characters of a-z, 0-9 and single hyphens, starting with a letter"
        )))
    }
}

/// App names are letters and digits only: names join app and environment
/// with a hyphen, and environments may hold hyphens, so an app name with one
/// would make two environments share every name (app `a-b` + environment `c`
/// and app `a` + environment `b-c` both give `a-b-c`). With no hyphen in the
/// app, the first hyphen of a name always ends the app.
pub fn check_app_name(app: &str) -> Result<(), StepError> {
    check_label("app", app, MAX_APP)?;
    if app.contains('-') {
        return Err(StepError::invalid_input(format!(
            "app name {app:?} must be 1-{MAX_APP} characters of a-z and 0-9 (no hyphen: resource names are <app>-<environment>, so a hyphen in the app would let two environments share names); try {:?}",
            app.replace('-', "")
        )));
    }
    Ok(())
}

pub fn check_environment_name(environment: &str) -> Result<(), StepError> {
    check_label("environment", environment, MAX_ENVIRONMENT)
}

/// A hex digest prefix of `text`, to keep truncated names distinct.
pub fn short_hash(text: &str, len: usize) -> String {
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    digest[..len.min(digest.len())].to_string()
}

/// How many hex digits of the branch's hash a preview name carries.
const PREVIEW_HASH: usize = 5;

/// The preview environment for a branch: exactly one per branch, and two
/// branches never share one. A branch that is already a valid name and fits
/// (`login-page`) is kept as it is: `pr-login-page`. Any other (`feature/x`,
/// `Feature-X`, a long one) keeps a readable part and gets a short hash of
/// the full branch name: `pr-feature-3f2a1`. A kept name never looks like a
/// hashed one (a branch that ends like a hash is hashed too), so a kept and
/// a hashed name never meet; two hashed ones meet only if both the readable
/// part and the hash collide, which the lease's branch check then refuses.
pub fn preview_environment(branch: &str) -> String {
    let mut slug = String::new();
    for c in branch.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    let room = MAX_ENVIRONMENT - "pr-".len();
    if !slug.is_empty() && slug == branch && slug.len() <= room && !looks_hashed(slug) {
        return format!("pr-{slug}");
    }
    let hash = short_hash(branch, PREVIEW_HASH);
    let readable = slug[..slug.len().min(room - PREVIEW_HASH - 1)].trim_end_matches('-');
    if readable.is_empty() {
        format!("pr-{hash}")
    } else {
        format!("pr-{readable}-{hash}")
    }
}

/// Whether a name ends the way a hashed preview name does.
fn looks_hashed(slug: &str) -> bool {
    let tail = slug.rsplit('-').next().unwrap_or(slug);
    tail.len() == PREVIEW_HASH && tail.chars().all(|c| c.is_ascii_hexdigit())
}

/// Every name an environment's resources carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    app: String,
    environment: String,
}

impl Names {
    pub fn new(app: &str, environment: &str) -> Result<Names, StepError> {
        check_app_name(app)?;
        check_environment_name(environment)?;
        Ok(Names {
            app: app.into(),
            environment: environment.into(),
        })
    }

    pub fn app(&self) -> &str {
        &self.app
    }

    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// `bank-production`: the base every name starts from (at most 29 characters).
    pub fn base(&self) -> String {
        format!("{}-{}", self.app, self.environment)
    }

    /// `base-suffix`, cut to `max` with a hash when it would not fit.
    fn bounded(&self, suffix: &str, max: usize) -> String {
        let full = if suffix.is_empty() {
            self.base()
        } else {
            format!("{}-{suffix}", self.base())
        };
        if full.len() <= max {
            return full;
        }
        let hash = short_hash(&full, 6);
        let tail = if suffix.is_empty() {
            hash
        } else {
            format!("{hash}-{suffix}")
        };
        let keep = max - tail.len() - 1;
        format!("{}-{tail}", self.base()[..keep].trim_end_matches('-'))
    }

    /// Name tag of the VPC and the prefix of its parts.
    pub fn vpc(&self) -> String {
        self.base()
    }
    pub fn subnet(&self, tier: &str, az_index: usize) -> String {
        format!("{}-{tier}-{}", self.base(), az_index + 1)
    }
    pub fn security_group(&self, role: &str) -> String {
        self.bounded(role, 255)
    }
    /// ALB names: at most 32 characters, must not start with `internal-`.
    pub fn load_balancer(&self) -> String {
        self.bounded("", 32)
    }
    /// Target group names: at most 32 characters.
    pub fn target_group(&self) -> String {
        self.bounded("tg", 32)
    }
    pub fn cluster(&self) -> String {
        self.bounded("", 255)
    }
    pub fn service(&self) -> String {
        self.bounded("", 255)
    }
    pub fn task_family(&self) -> String {
        self.bounded("", 255)
    }
    pub fn log_group(&self) -> String {
        format!("/stepdeploy/{}/{}", self.app, self.environment)
    }
    /// RDS identifiers: at most 63 characters, a letter first, no `--`, no trailing `-`.
    pub fn db_instance(&self) -> String {
        self.bounded("db", 63)
    }
    pub fn db_subnet_group(&self) -> String {
        self.bounded("db", 255)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn is_rds_identifier(s: &str) -> bool {
        s.len() <= 63
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !s.contains("--")
            && !s.ends_with('-')
    }

    fn is_elb_name(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 32
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.starts_with("internal-")
    }

    #[test]
    fn reference_names() {
        let n = Names::new("bank", "production").unwrap();
        assert_eq!(n.vpc(), "bank-production");
        assert_eq!(n.load_balancer(), "bank-production");
        assert_eq!(n.target_group(), "bank-production-tg");
        assert_eq!(n.db_instance(), "bank-production-db");
        assert_eq!(n.log_group(), "/stepdeploy/bank/production");
        assert_eq!(n.subnet("private", 1), "bank-production-private-2");
    }

    #[test]
    fn longest_names_fit_elb_limits_and_stay_distinct() {
        let a = Names::new("abcdefghijkl", "pr-abcdefghijkl").unwrap();
        let b = Names::new("abcdefghijkl", "pr-abcdefghijkm").unwrap();
        for n in [&a, &b] {
            assert!(is_elb_name(&n.load_balancer()), "{}", n.load_balancer());
            assert!(is_elb_name(&n.target_group()), "{}", n.target_group());
            assert!(is_rds_identifier(&n.db_instance()));
        }
        assert_eq!(a.load_balancer(), a.base());
        assert_ne!(a.target_group(), b.target_group());
        assert!(a.target_group().ends_with("-tg"));
    }

    #[test]
    fn invalid_labels_are_refused() {
        for bad in [
            "",
            "Bank",
            "1bank",
            "bank-",
            "ba--nk",
            "bank_x",
            "bankbankbankb",
        ] {
            assert!(check_app_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_environment_name("production").is_ok());
        assert!(check_environment_name("a-very-long-environment").is_err());
    }

    #[test]
    fn app_and_environment_never_share_a_name() {
        // The collision a hyphen in the app name would allow is refused.
        let e = check_app_name("a-b").unwrap_err();
        assert!(e.message.contains("no hyphen"), "{}", e.message);
        assert!(e.message.contains("\"ab\""), "{}", e.message);
        assert!(Names::new("a-b", "c").is_err());
        // With hyphens only in environments, distinct pairs give distinct bases.
        let pairs = [
            ("a", "b-c"),
            ("ab", "c"),
            ("a", "bc"),
            ("a1", "b"),
            ("a", "1b"),
        ];
        let bases: std::collections::HashSet<String> = pairs
            .iter()
            .filter_map(|(a, e)| Names::new(a, e).ok())
            .map(|n| n.base())
            .collect();
        let valid = pairs
            .iter()
            .filter(|(a, e)| Names::new(a, e).is_ok())
            .count();
        assert_eq!(bases.len(), valid);
        for n in pairs.iter().filter_map(|(a, e)| Names::new(a, e).ok()) {
            let (app, env) = n
                .base()
                .split_once('-')
                .map(|(a, e)| (a.to_string(), e.to_string()))
                .unwrap();
            assert_eq!((app.as_str(), env.as_str()), (n.app(), n.environment()));
        }
    }

    #[test]
    fn preview_names() {
        assert_eq!(preview_environment("login-page"), "pr-login-page");
        assert_eq!(
            preview_environment("feature/x"),
            format!("pr-feature-{}", short_hash("feature/x", 5))
        );
        assert_eq!(
            preview_environment("Fix__Bug--42"),
            format!("pr-fix-bug-{}", short_hash("Fix__Bug--42", 5))
        );
        assert_eq!(
            preview_environment("///"),
            format!("pr-{}", short_hash("///", 5))
        );
        let long = preview_environment("feature/a-very-long-branch-name-indeed");
        assert!(long.len() <= MAX_ENVIRONMENT, "{long}");
        assert_ne!(
            long,
            preview_environment("feature/a-very-long-branch-name-indeeD2")
        );
        assert!(check_environment_name(&long).is_ok(), "{long}");
    }

    #[test]
    fn branches_that_normalise_alike_get_different_previews() {
        let alike = [
            "feature/login",
            "feature-login",
            "Feature_Login",
            "feature--login",
            "feature/login/",
            // Looks like a hashed name: hashed too, so it cannot meet one.
            "feature-login-abcde",
        ];
        let names: std::collections::BTreeSet<String> =
            alike.iter().map(|b| preview_environment(b)).collect();
        assert_eq!(names.len(), alike.len(), "{names:?}");
        for n in &names {
            assert!(check_environment_name(n).is_ok(), "{n}");
        }
        // One branch, one preview: the mapping is a function.
        assert_eq!(
            preview_environment("feature/login"),
            preview_environment("feature/login")
        );
    }

    proptest! {
        #[test]
        fn every_branch_gives_a_valid_environment(branch in "\\PC{0,80}") {
            let env = preview_environment(&branch);
            prop_assert!(check_environment_name(&env).is_ok(), "{:?} -> {:?}", branch, env);
            let names = Names::new("bank", &env).unwrap();
            prop_assert!(is_elb_name(&names.load_balancer()));
            prop_assert!(is_elb_name(&names.target_group()));
            prop_assert!(is_rds_identifier(&names.db_instance()));
        }
    }
}
