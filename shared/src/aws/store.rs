//! The ledger in DynamoDB: items from the typed records of [`crate::ledger`].

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Number, Value};

use super::{aws_error, has_code};
use crate::error::StepError;
use crate::lease::{Claimant, Kind, LeaseRecord, TEARDOWN_DONE, TEARDOWN_PENDING};
use crate::ledger::*;
use crate::spec::AppSpec;

type Item = HashMap<String, AttributeValue>;

fn to_attr(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attr).collect()),
        Value::Object(o) => {
            AttributeValue::M(o.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect())
        }
    }
}

fn from_attr(attr: &AttributeValue) -> Value {
    match attr {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => n
            .parse::<u64>()
            .map(Value::from)
            .or_else(|_| n.parse::<i64>().map(Value::from))
            .ok()
            .or_else(|| {
                n.parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
            })
            .unwrap_or(Value::Null),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attr).collect()),
        AttributeValue::M(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), from_attr(v)))
                .collect::<Map<_, _>>(),
        ),
        AttributeValue::Ss(s) => Value::Array(s.iter().cloned().map(Value::String).collect()),
        _ => Value::Null,
    }
}

/// A record as a DynamoDB item.
pub fn to_item<T: Serialize>(record: &T) -> Item {
    match serde_json::to_value(record) {
        Ok(Value::Object(o)) => o.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect(),
        _ => Item::new(),
    }
}

/// A DynamoDB item as a record.
pub fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, StepError> {
    let value = Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), from_attr(v)))
            .collect(),
    );
    serde_json::from_value(value)
        .map_err(|e| StepError::fatal(format!("ledger item does not match its record type: {e}")))
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk.into())),
        ("sk".to_string(), AttributeValue::S(sk.into())),
    ])
}

/// The attributes `update` sets (with their value) and removes (null), for
/// [`Store::update_if`]: the one place a [`DeploymentUpdate`]'s fields are
/// named as attributes.
fn deployment_fields(update: &DeploymentUpdate) -> Vec<(&'static str, Value)> {
    fn add<T: Serialize>(
        fields: &mut Vec<(&'static str, Value)>,
        name: &'static str,
        f: &Field<T>,
    ) {
        match f {
            Field::Keep => {}
            Field::Set(value) => fields.push((
                name,
                serde_json::to_value(value).expect("a ledger value serializes"),
            )),
            Field::Remove => fields.push((name, Value::Null)),
        }
    }
    // Every field named: a new one does not compile until it is here.
    let DeploymentUpdate {
        status,
        repository,
        preview,
        seq,
        waiting_for,
        execution_arn,
        image,
        url,
        warnings,
        error,
        cause,
        plan,
        diagnosis,
        updated_at,
    } = update;
    let mut fields = Vec::new();
    add(&mut fields, "status", status);
    add(&mut fields, "repository", repository);
    add(&mut fields, "preview", preview);
    add(&mut fields, "seq", seq);
    add(&mut fields, "waiting_for", waiting_for);
    add(&mut fields, "execution_arn", execution_arn);
    add(&mut fields, "image", image);
    add(&mut fields, "url", url);
    add(&mut fields, "warnings", warnings);
    add(&mut fields, "error", error);
    add(&mut fields, "cause", cause);
    add(&mut fields, "plan", plan);
    add(&mut fields, "diagnosis", diagnosis);
    add(&mut fields, "updated_at", updated_at);
    fields
}

/// When a conditional update applies.
enum When<'a> {
    Always,
    /// Only to an item that exists: an update never creates a partial one.
    Exists,
    /// Only while the item's attribute has this value.
    Is(&'a str, Value),
    /// To a new item, or while the item's attribute has this value.
    AbsentOr(&'a str, Value),
}

/// The ledger table.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Store {
        Store {
            client,
            table: table.into(),
        }
    }

    /// From the SDK config and `STEPDEPLOY_TABLE`.
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Store, StepError> {
        Ok(Store::new(
            Client::new(config),
            crate::runtime::env_var("STEPDEPLOY_TABLE")?,
        ))
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get<T: DeserializeOwned>(&self, pk: &str, sk: &str) -> Result<Option<T>, StepError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB GetItem", &e))?;
        out.item().map(from_item).transpose()
    }

    async fn put<T: Serialize>(&self, record: &T) -> Result<(), StepError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB PutItem", &e))?;
        Ok(())
    }

    /// Put only if no item has this key. `Ok(false)` when one already does.
    async fn put_new<T: Serialize>(&self, record: &T) -> Result<bool, StepError> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if has_code(&e, &["ConditionalCheckFailedException"]) => Ok(false),
            Err(e) => Err(aws_error("DynamoDB PutItem", &e)),
        }
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StepError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB DeleteItem", &e))?;
        Ok(())
    }

    /// `SET a = :a, b = :b` on an existing item; fields whose value is null are removed.
    async fn update(&self, pk: &str, sk: &str, fields: &[(&str, Value)]) -> Result<(), StepError> {
        self.update_if(pk, sk, fields, When::Always)
            .await
            .map(|_| ())
    }

    /// `update`, only `when` the item is so: whether it was updated.
    async fn update_if(
        &self,
        pk: &str,
        sk: &str,
        fields: &[(&str, Value)],
        when: When<'_>,
    ) -> Result<bool, StepError> {
        let mut sets = Vec::new();
        let mut removes = Vec::new();
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        for (i, (name, value)) in fields.iter().enumerate() {
            names.insert(format!("#f{i}"), name.to_string());
            if value.is_null() {
                removes.push(format!("#f{i}"));
            } else {
                sets.push(format!("#f{i} = :v{i}"));
                values.insert(format!(":v{i}"), to_attr(value));
            }
        }
        let mut expr = String::new();
        if !sets.is_empty() {
            expr.push_str(&format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let condition = match when {
            When::Always => None,
            When::Exists => Some("attribute_exists(pk)"),
            When::Is(name, value) => {
                names.insert("#when".into(), name.to_string());
                values.insert(":when".into(), to_attr(&value));
                Some("#when = :when")
            }
            When::AbsentOr(name, value) => {
                names.insert("#when".into(), name.to_string());
                values.insert(":when".into(), to_attr(&value));
                Some("attribute_not_exists(pk) OR #when = :when")
            }
        };
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .update_expression(expr.trim())
            .set_condition_expression(condition.map(String::from))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if has_code(&e, &["ConditionalCheckFailedException"]) => Ok(false),
            Err(e) => Err(aws_error("DynamoDB UpdateItem", &e)),
        }
    }

    /// Every item under `pk` whose sort key starts with `prefix`: all pages
    /// (a Query stops at 1 MB and answers a `LastEvaluatedKey`).
    async fn query_prefix<T: DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<T>, StepError> {
        self.query_items(pk, Some(prefix))
            .await?
            .iter()
            .map(from_item)
            .collect()
    }

    /// Every item under `pk` (whose sort key starts with `prefix`, if given): all pages.
    async fn query_items(&self, pk: &str, prefix: Option<&str>) -> Result<Vec<Item>, StepError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
            .consistent_read(true);
        if let Some(prefix) = prefix {
            query = query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()));
        }
        query
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DynamoDB Query", &e))
    }

    // --- apps ---

    pub async fn put_app(&self, spec: &AppSpec, now: &str) -> Result<(), StepError> {
        spec.validate()?;
        self.put(&AppRecord {
            pk: APPS_PK.into(),
            sk: app_sk(&spec.name),
            app: spec.name.clone(),
            spec: serde_json::to_string(spec).expect("a spec serializes"),
            updated_at: now.into(),
        })
        .await
    }

    pub async fn get_app(&self, app: &str) -> Result<Option<AppSpec>, StepError> {
        let record: Option<AppRecord> = self.get(APPS_PK, &app_sk(app)).await?;
        record.map(|r| AppSpec::from_json(&r.spec)).transpose()
    }

    /// Take the app name for the repository of `claim` (or keep it), with
    /// the spec its file gave: only if no repository has the name yet, or
    /// this one does (`attribute_not_exists(pk) OR repository = :repository`).
    /// `Ok(Some(owner))`: another repository has the name.
    pub async fn claim_repository_app(
        &self,
        claim: &RepositoryAppRecord,
    ) -> Result<Option<String>, StepError> {
        let fields = [
            ("app", Value::String(claim.app.clone())),
            ("repository", Value::String(claim.repository.clone())),
            ("spec", Value::String(claim.spec.clone())),
            ("commit", Value::String(claim.commit.clone())),
            ("updated_at", Value::String(claim.updated_at.clone())),
        ];
        let when = When::AbsentOr("repository", Value::String(claim.repository.clone()));
        if self.update_if(&claim.pk, &claim.sk, &fields, when).await? {
            return Ok(None);
        }
        let owner: Option<RepositoryAppRecord> = self.get(&claim.pk, &claim.sk).await?;
        Ok(Some(owner.map_or_else(
            || "another repository".into(),
            |o| o.repository,
        )))
    }

    /// Every app stepdeploy deploys, in one Query: the registered ones, and
    /// those taken by a repository's file (with the spec it last deployed).
    /// A spec that no longer validates is skipped with a warning.
    pub async fn all_apps(&self) -> Result<(Vec<AppSpec>, Vec<AppSpec>), StepError> {
        let (mut registered, mut from_files) = (Vec::new(), Vec::new());
        for item in self.query_items(APPS_PK, None).await? {
            let sk = match item.get("sk") {
                Some(AttributeValue::S(sk)) => sk.clone(),
                _ => continue,
            };
            let (app, spec, into) = if sk.starts_with("APP#") {
                let r: AppRecord = from_item(&item)?;
                (r.app, r.spec, &mut registered)
            } else if sk.starts_with("REPO#") {
                let r: RepositoryAppRecord = from_item(&item)?;
                (r.app, r.spec, &mut from_files)
            } else {
                continue;
            };
            match AppSpec::from_json(&spec) {
                Ok(s) => into.push(s),
                Err(e) => {
                    tracing::warn!(app = %app, error = %e, "skipping an app whose spec is not valid")
                }
            }
        }
        Ok((registered, from_files))
    }

    /// [`Store::all_apps`] as one list, registered first.
    pub async fn deployable_apps(&self) -> Result<Vec<AppSpec>, StepError> {
        let (mut apps, from_files) = self.all_apps().await?;
        apps.extend(from_files);
        Ok(apps)
    }

    pub async fn repository_app(
        &self,
        app: &str,
    ) -> Result<Option<RepositoryAppRecord>, StepError> {
        self.get(APPS_PK, &repo_app_sk(app)).await
    }

    // --- previews' pull requests ---

    pub async fn put_pull(&self, record: &PullRecord) -> Result<(), StepError> {
        self.put(record).await
    }

    pub async fn get_pull(
        &self,
        app: &str,
        environment: &str,
    ) -> Result<Option<PullRecord>, StepError> {
        self.get(&env_pk(app, environment), PULL_SK).await
    }

    /// The preview's pull request was closed (only if one is recorded).
    pub async fn close_pull(&self, app: &str, environment: &str) -> Result<(), StepError> {
        self.update_if(
            &env_pk(app, environment),
            PULL_SK,
            &[("open", Value::Bool(false))],
            When::Exists,
        )
        .await
        .map(|_| ())
    }

    // --- webhook deliveries ---

    /// Record a delivery unless it is known. Returns the earlier record of a redelivery.
    pub async fn claim_delivery(
        &self,
        record: &DeliveryRecord,
    ) -> Result<Option<DeliveryRecord>, StepError> {
        if self.put_new(record).await? {
            return Ok(None);
        }
        self.get(&record.pk, &record.sk).await
    }

    pub async fn mark_delivery_started(
        &self,
        delivery: &str,
        execution_arn: &str,
    ) -> Result<(), StepError> {
        self.update(
            &delivery_pk(delivery),
            DELIVERY_SK,
            &[
                ("started", Value::Bool(true)),
                ("execution_arn", execution_arn.into()),
            ],
        )
        .await
    }

    // --- deployments and environments ---

    /// Record a deployment unless it is already recorded (a re-run, or the webhook's record).
    pub async fn create_deployment(&self, record: &DeploymentRecord) -> Result<bool, StepError> {
        self.put_new(record).await
    }

    pub async fn get_deployment(
        &self,
        app: &str,
        environment: &str,
        id: &str,
    ) -> Result<Option<DeploymentRecord>, StepError> {
        self.get(&env_pk(app, environment), &deploy_sk(id)).await
    }

    pub async fn deployments(
        &self,
        app: &str,
        environment: &str,
    ) -> Result<Vec<DeploymentRecord>, StepError> {
        self.query_prefix(&env_pk(app, environment), DEPLOY_PREFIX)
            .await
    }

    /// Apply `update` to a recorded deployment (`attribute_exists(pk)`: an
    /// update never creates a partial record).
    pub async fn update_deployment(
        &self,
        app: &str,
        environment: &str,
        id: &str,
        update: &DeploymentUpdate,
    ) -> Result<(), StepError> {
        let updated = self
            .update_if(
                &env_pk(app, environment),
                &deploy_sk(id),
                &deployment_fields(update),
                When::Exists,
            )
            .await?;
        if !updated {
            tracing::warn!(deployment_id = %id, "no ledger record for this deployment: nothing updated");
        }
        Ok(())
    }

    /// Apply `update` to a deployment still in `status` (a later writer,
    /// e.g. the execution's own first step, wins): whether it was.
    pub async fn update_deployment_in(
        &self,
        app: &str,
        environment: &str,
        id: &str,
        status: Status,
        update: &DeploymentUpdate,
    ) -> Result<bool, StepError> {
        let when = When::Is("status", serde_json::json!(status));
        self.update_if(
            &env_pk(app, environment),
            &deploy_sk(id),
            &deployment_fields(update),
            when,
        )
        .await
    }

    pub async fn put_environment(&self, record: &EnvironmentRecord) -> Result<(), StepError> {
        self.put(record).await
    }

    pub async fn get_environment(
        &self,
        app: &str,
        environment: &str,
    ) -> Result<Option<EnvironmentRecord>, StepError> {
        self.get(&env_pk(app, environment), ENV_SK).await
    }

    // --- the lease (see crate::lease) ---

    pub async fn get_lease(
        &self,
        app: &str,
        environment: &str,
    ) -> Result<Option<LeaseRecord>, StepError> {
        self.get(&env_pk(app, environment), LOCK_SK).await
    }

    /// Give `id` the environment's next sequence number (an atomic counter:
    /// the item is created with the first). A teardown also becomes the
    /// environment's last teardown, pending.
    /// A preview's push (`branch`) claims the preview for its branch if no
    /// branch has it yet.
    pub async fn next_seq(
        &self,
        app: &str,
        environment: &str,
        id: &str,
        kind: Kind,
        branch: Option<&str>,
    ) -> Result<u64, StepError> {
        let mut expr = "SET #seq = if_not_exists(#seq, :zero) + :one, newest = :id".to_string();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&env_pk(app, environment), LOCK_SK)))
            .expression_attribute_names("#seq", "seq")
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":id", AttributeValue::S(id.into()));
        if kind == Kind::Teardown {
            // Every operand reads the item as it was: both get the new number.
            expr.push_str(
                ", teardown_seq = if_not_exists(#seq, :zero) + :one, teardown_id = :id, teardown_state = :pending",
            );
            req = req.expression_attribute_values(
                ":pending",
                AttributeValue::S(TEARDOWN_PENDING.into()),
            );
        }
        if let Some(branch) = branch {
            expr.push_str(", branch = if_not_exists(branch, :branch)");
            req = req.expression_attribute_values(":branch", AttributeValue::S(branch.into()));
        }
        let out = req
            .update_expression(expr)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| aws_error("DynamoDB UpdateItem", &e))?;
        out.attributes()
            .and_then(|a| a.get("seq"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StepError::fatal("DynamoDB UpdateItem answered no sequence number"))
    }

    /// Take the lease for `me`: only while it is free (or still held by
    /// `over`, whose execution has ended) and, for a deployment, while `me`
    /// is the newest push and no teardown is pending. Whether it was taken.
    pub async fn take_lease(
        &self,
        app: &str,
        environment: &str,
        me: &Claimant,
        over: Option<&str>,
        now: &str,
    ) -> Result<bool, StepError> {
        let mut condition = match over {
            Some(_) => "holder_arn = :over".to_string(),
            None => "attribute_not_exists(holder_arn)".to_string(),
        };
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&env_pk(app, environment), LOCK_SK)))
            .update_expression(
                "SET holder = :id, holder_arn = :arn, holder_seq = :seq, kind = :kind, since = :now",
            )
            .expression_attribute_values(":id", AttributeValue::S(me.id.clone()))
            .expression_attribute_values(":arn", AttributeValue::S(me.execution_arn.clone()))
            .expression_attribute_values(":seq", AttributeValue::N(me.seq.to_string()))
            .expression_attribute_values(":kind", AttributeValue::S(me.kind.name().into()))
            .expression_attribute_values(":now", AttributeValue::S(now.into()));
        if let Some(over) = over {
            req = req.expression_attribute_values(":over", AttributeValue::S(over.into()));
        }
        if me.kind == Kind::Deploy {
            condition.push_str(
                " AND (attribute_not_exists(#seq) OR #seq = :seq) AND (attribute_not_exists(teardown_state) OR teardown_state = :done)",
            );
            req = req
                .expression_attribute_names("#seq", "seq")
                .expression_attribute_values(":done", AttributeValue::S(TEARDOWN_DONE.into()));
        }
        match req.condition_expression(condition).send().await {
            Ok(_) => Ok(true),
            Err(e) if has_code(&e, &["ConditionalCheckFailedException"]) => Ok(false),
            Err(e) => Err(aws_error("DynamoDB UpdateItem", &e)),
        }
    }

    /// Let go of the lease if `execution_arn` holds it (else nothing).
    pub async fn release_lease(
        &self,
        app: &str,
        environment: &str,
        execution_arn: &str,
    ) -> Result<(), StepError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&env_pk(app, environment), LOCK_SK)))
            .update_expression("REMOVE holder, holder_arn, holder_seq, kind, since")
            .condition_expression("holder_arn = :arn")
            .expression_attribute_values(":arn", AttributeValue::S(execution_arn.into()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &["ConditionalCheckFailedException"]) => Ok(()),
            Err(e) => Err(aws_error("DynamoDB UpdateItem", &e)),
        }
    }

    /// Set the last teardown's state, if `teardown_id` is still the last
    /// teardown. A finished one frees a preview for any branch.
    pub async fn set_teardown_state(
        &self,
        app: &str,
        environment: &str,
        teardown_id: &str,
        state: &str,
    ) -> Result<(), StepError> {
        let mut fields = vec![("teardown_state", Value::from(state))];
        if state == TEARDOWN_DONE {
            fields.push(("branch", Value::Null));
        }
        self.update_if(
            &env_pk(app, environment),
            LOCK_SK,
            &fields,
            When::Is("teardown_id", teardown_id.into()),
        )
        .await
        .map(|_| ())
    }

    pub async fn put_teardown(&self, record: &TeardownRecord) -> Result<(), StepError> {
        self.put(record).await
    }

    // --- owned resources ---

    pub async fn get_resource(
        &self,
        app: &str,
        environment: &str,
        kind: &str,
    ) -> Result<Option<ResourceRecord>, StepError> {
        self.get(&env_pk(app, environment), &resource_sk(kind))
            .await
    }

    pub async fn get_release(
        &self,
        app: &str,
        environment: &str,
        commit: &str,
    ) -> Result<Option<ReleaseRecord>, StepError> {
        self.get(&env_pk(app, environment), &release_sk(commit))
            .await
    }

    pub async fn put_release(&self, record: &ReleaseRecord) -> Result<(), StepError> {
        self.put(record).await
    }

    pub async fn put_resource(&self, record: &ResourceRecord) -> Result<(), StepError> {
        self.put(record).await
    }

    pub async fn resources(
        &self,
        app: &str,
        environment: &str,
    ) -> Result<Vec<ResourceRecord>, StepError> {
        self.query_prefix(&env_pk(app, environment), RESOURCE_PREFIX)
            .await
    }

    pub async fn delete_resource(
        &self,
        app: &str,
        environment: &str,
        kind: &str,
    ) -> Result<(), StepError> {
        self.delete(&env_pk(app, environment), &resource_sk(kind))
            .await
    }

    // --- images ---

    pub async fn put_waiter(&self, record: &WaiterRecord) -> Result<(), StepError> {
        self.put(record).await
    }

    pub async fn waiters(&self, wait_key: &str) -> Result<Vec<WaiterRecord>, StepError> {
        self.query_prefix(&image_pk(wait_key), WAIT_PREFIX).await
    }

    pub async fn delete_waiter(
        &self,
        wait_key: &str,
        deployment_id: &str,
    ) -> Result<(), StepError> {
        self.delete(&image_pk(wait_key), &waiter_sk(deployment_id))
            .await
    }

    pub async fn put_arrival(&self, record: &ArrivalRecord) -> Result<(), StepError> {
        self.put(record).await
    }

    pub async fn get_arrival(&self, wait_key: &str) -> Result<Option<ArrivalRecord>, StepError> {
        self.get(&image_pk(wait_key), ARRIVAL_SK).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::query::QueryOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn resource(kind: &str, id: &str) -> ResourceRecord {
        ResourceRecord {
            pk: env_pk("bank", "production"),
            sk: resource_sk(kind),
            kind: kind.into(),
            id: id.into(),
            created_by: "d1".into(),
            recorded_at: "2025-01-01T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn every_page_of_a_query_is_read() {
        let first_page = resource("vpc", "vpc-1");
        let last_key = key(&first_page.pk, &first_page.sk);
        let first = mock!(Client::query)
            .match_requests(|r| r.exclusive_start_key().is_none())
            .then_output({
                let last_key = last_key.clone();
                move || {
                    QueryOutput::builder()
                        .items(to_item(&resource("vpc", "vpc-1")))
                        .set_last_evaluated_key(Some(last_key.clone()))
                        .build()
                }
            });
        let second = mock!(Client::query)
            .match_requests(move |r| r.exclusive_start_key() == Some(&last_key))
            .then_output(|| {
                QueryOutput::builder()
                    .items(to_item(&resource("subnet-public-1", "subnet-1")))
                    .build()
            });
        let store = Store::new(
            mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&first, &second]),
            "ledger",
        );

        let found = store.resources("bank", "production").await.unwrap();

        assert_eq!(
            found,
            vec![first_page, resource("subnet-public-1", "subnet-1")]
        );
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_deployment_that_moved_on_is_not_closed_again() {
        use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
        use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
        let queued = mock!(Client::update_item)
            .match_requests(|r| {
                r.condition_expression() == Some("#when = :when")
                    && r.expression_attribute_values().and_then(|v| v.get(":when"))
                        == Some(&AttributeValue::S("QUEUED".into()))
                    && r.key().and_then(|k| k.get("sk"))
                        == Some(&AttributeValue::S("DEPLOY#d1".into()))
            })
            .then_output(|| UpdateItemOutput::builder().build());
        let moved_on = mock!(Client::update_item).then_error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder()
                    .message("The conditional request failed")
                    .meta(
                        aws_sdk_dynamodb::error::ErrorMetadata::builder()
                            .code("ConditionalCheckFailedException")
                            .build(),
                    )
                    .build(),
            )
        });
        let failed = DeploymentUpdate {
            status: Field::Set(Status::Failed),
            ..DeploymentUpdate::default()
        };
        let store = Store::new(
            mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&queued, &moved_on]),
            "ledger",
        );
        let close =
            || store.update_deployment_in("bank", "production", "d1", Status::Queued, &failed);
        assert!(close().await.unwrap());
        assert!(!close().await.unwrap());
    }

    #[test]
    fn a_deployment_update_sets_and_removes_only_what_it_says() {
        use serde_json::json;
        let update = DeploymentUpdate {
            seq: Field::Remove,
            waiting_for: Field::Remove,
            execution_arn: Field::Set("arn".into()),
            ..DeploymentUpdate::status(Status::InProgress, "t1")
        };
        assert_eq!(
            deployment_fields(&update),
            vec![
                ("status", json!("IN_PROGRESS")),
                ("seq", Value::Null),
                ("waiting_for", Value::Null),
                ("execution_arn", json!("arn")),
                ("updated_at", json!("t1")),
            ]
        );
        assert!(deployment_fields(&DeploymentUpdate::default()).is_empty());
    }

    #[test]
    fn a_deployment_update_names_the_record_attributes() {
        let set = |s: &str| Field::Set(s.to_string());
        let every = DeploymentUpdate {
            status: Field::Set(Status::Failed),
            repository: set("acme/bank"),
            preview: Field::Set(true),
            seq: Field::Set(3),
            waiting_for: set("d2"),
            execution_arn: set("arn"),
            image: set("bank:c1"),
            url: set("http://lb"),
            warnings: Field::Set(vec!["w".into()]),
            error: set("Fatal"),
            cause: set("why"),
            plan: Field::Set(Vec::new()),
            diagnosis: Field::Set(serde_json::json!({"cause": "x"})),
            updated_at: set("t1"),
        };
        let record = DeploymentRecord {
            pk: env_pk("bank", "pr-x"),
            sk: deploy_sk("d3"),
            deployment_id: "d3".into(),
            app: "bank".into(),
            environment: "pr-x".into(),
            commit: "c1".into(),
            branch: Some("x".into()),
            repository: Some("acme/bank".into()),
            preview: true,
            status: Status::Failed,
            seq: Some(3),
            waiting_for: Some("d2".into()),
            trigger: "push".into(),
            execution_arn: Some("arn".into()),
            image: Some("bank:c1".into()),
            url: Some("http://lb".into()),
            error: Some("Fatal".into()),
            cause: Some("why".into()),
            plan: Vec::new(),
            created_at: "t0".into(),
            updated_at: "t1".into(),
        };
        let item = to_item(&record);
        // Not in this item: written but never read back (warnings,
        // diagnosis), or left out of an item when empty (plan).
        let only_written = ["warnings", "diagnosis", "plan"];
        let fields = deployment_fields(&every);
        assert_eq!(
            fields.len(),
            14,
            "every field of the update is an attribute"
        );
        for (name, _) in fields {
            assert!(
                item.contains_key(name) || only_written.contains(&name),
                "{name} is not an attribute of a deployment's record"
            );
        }
    }

    #[test]
    fn records_round_trip_through_items() {
        let r = DeliveryRecord {
            pk: delivery_pk("d"),
            sk: DELIVERY_SK.into(),
            event: "push".into(),
            deployment_id: "id".into(),
            started: true,
            execution_arn: None,
            expires_at: 1_795_624_484,
        };
        let item = to_item(&r);
        assert_eq!(item["expires_at"], AttributeValue::N("1795624484".into()));
        assert!(!item.contains_key("execution_arn"));
        assert_eq!(from_item::<DeliveryRecord>(&item).unwrap(), r);
    }
}
