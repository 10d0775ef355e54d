//! The OpenAPI document, served at `/api/v1/openapi.json` and `/docs`.
//!
//! Each handler describes what is its own (parameters, body, the answers
//! of its own logic) and the role it needs, as the scope of its `api_key`
//! requirement: `security(("api_key" = ["service"]))`. What every operation
//! can answer besides is added here, once, so that no route has to remember
//! it ([`CommonResponses`]); the limits the service runs with (page sizes,
//! hold lengths) are written into the schemas when the router is built
//! ([`Limits`]). The invariants are tested below: no query parameter is
//! declared in the path, every path parameter is in its template, every
//! keyed operation documents 401, and the role documented is the role
//! enforced.

use std::time::Duration;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, Required, ResponseBuilder, Schema};
use utoipa::Modify;

use crate::idempotency::IDEMPOTENCY_KEY_LENGTH_MAX;
use crate::wire;
use crate::HttpConfig;
use stock_core::Role;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "stockd",
        description = "An inventory service that never sells what it does not have. \
            Every /api/v1 route needs `Authorization: Bearer KEY`, of a key whose role is \
            the operation's security scope or above (storefront < service < admin); every \
            write accepts an `Idempotency-Key` header. Errors are \
            `{\"error\": {\"code\", \"message\", \"details\"}}`."
    ),
    modifiers(&BearerAuth),
    // Schemas that only parameters name: utoipa collects those of bodies
    // and answers by itself.
    components(schemas(
        crate::error::ErrorBody,
        wire::Id,
        wire::PageNumber,
        wire::PageSize,
        wire::SearchText,
        wire::Reference,
        wire::ItemStatusName,
        wire::OrderStatusName,
        wire::OperationName,
        wire::AlertKindName,
        wire::AlertStatusFilter,
        wire::EventKindList,
        wire::Code,
        wire::CodeFilter,
        wire::CodeList,
        wire::CountyCode,
        wire::AddressPart,
        wire::AddressLine,
    )),
    tags(
        (name = "inventory", description = "Items and their stock"),
        (name = "stock", description = "Changes to stock"),
        (name = "ledger", description = "Every change, append-only"),
        (name = "reports", description = "Statistics and reports"),
        (name = "locations", description = "Warehouses"),
        (name = "holds", description = "Stock held for unpaid orders, and orders"),
        (name = "alerts", description = "Low stock, out of stock, back in stock"),
        (name = "events", description = "Live events"),
        (name = "health", description = "The Redis cache checked against the database"),
        (name = "channels", description = "Shop listings on other platforms, kept in step with the warehouse"),
        (name = "suppliers", description = "Stock that lives at a supplier: region codes, the supplier's figures, syncs"),
        (name = "service", description = "The service itself"),
    )
)]
pub(crate) struct ApiDoc;

/// The security scheme every `/api/v1` operation names.
pub(crate) const API_KEY: &str = "api_key";

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as served: the routes' own descriptions, the answers every
/// operation shares, and the configured limits.
pub fn document(mut openapi: OpenApi, config: &HttpConfig) -> OpenApi {
    CommonResponses.modify(&mut openapi);
    Limits::from(config).modify(&mut openapi);
    openapi
}

/// The operations of a document, with their paths and methods.
pub(crate) fn operations(
    openapi: &mut OpenApi,
) -> impl Iterator<Item = (&str, &'static str, &mut Operation)> {
    openapi.paths.paths.iter_mut().flat_map(|(path, item)| {
        [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
            ("head", &mut item.head),
            ("options", &mut item.options),
            ("trace", &mut item.trace),
        ]
        .into_iter()
        .filter_map(move |(method, operation)| {
            operation
                .as_mut()
                .map(|operation| (path.as_str(), method, operation))
        })
    })
}

/// The role an operation needs: the scope of its `api_key` requirement;
/// `None` for an operation that needs no key.
pub(crate) fn needed_role(operation: &Operation) -> Option<Role> {
    let requirements = operation.security.as_ref()?;
    let scopes = requirements.iter().find_map(|requirement| {
        // The requirement's scopes are private to utoipa; its JSON shows them.
        let shown = serde_json::to_value(requirement).expect("a requirement serializes");
        shown.get(API_KEY).cloned()
    })?;
    let role = scopes
        .as_array()
        .and_then(|scopes| scopes.first())
        .and_then(|scope| scope.as_str())
        .and_then(Role::parse);
    Some(role.unwrap_or(Role::Storefront))
}

fn is_write(method: &str) -> bool {
    matches!(method, "post" | "put" | "delete" | "patch")
}

/// Adds to every operation the answers it can give whatever its handler
/// does: those of authentication, roles, rate limits, idempotency, the
/// body's size, type and encoding, malformed input, time-outs and our own
/// failures; and the `Idempotency-Key` header to every write.
pub struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, method, operation) in operations(openapi) {
            if !path.starts_with("/api/v1/") {
                continue;
            }
            let keyed = operation.security.is_some();
            let role = needed_role(operation);
            if is_write(method) {
                add_idempotency_key(operation);
            }
            let has_input = operation
                .parameters
                .as_ref()
                .is_some_and(|parameters| !parameters.is_empty())
                || operation.request_body.is_some();
            let has_body = operation.request_body.is_some();
            let has_path_parameters = path.contains('{');
            let mut add = |status: &str, code: &str| add_error(operation, status, code);
            if has_input {
                add(
                    "400",
                    "VALIDATION_FAILED: the input does not fit its schema",
                );
            }
            if keyed {
                add("401", "UNAUTHORIZED: no key, or one that is not valid");
                add(
                    "429",
                    "RATE_LIMITED: too many requests; wait as long as Retry-After says",
                );
            }
            if role.is_some_and(|role| role != Role::Storefront) {
                add(
                    "403",
                    "FORBIDDEN: the key's role is below the operation's scope",
                );
            }
            if has_path_parameters {
                add("404", "NOT_FOUND: nothing by that id");
            }
            if is_write(method) {
                add(
                    "409",
                    "IDEMPOTENCY_IN_PROGRESS: a request with this Idempotency-Key is still running",
                );
                add(
                    "422",
                    "IDEMPOTENCY_MISMATCH: this Idempotency-Key came with another request",
                );
            }
            if has_body {
                add("413", "PAYLOAD_TOO_LARGE: the body is over the size limit");
            }
            add(
                "415",
                "UNSUPPORTED_MEDIA_TYPE: a body that is not JSON, or a Content-Encoding other than identity",
            );
            add(
                "500",
                "INTERNAL: a failure of the service's own; see its log",
            );
            add(
                "503",
                "TIMEOUT: the request took longer than the time limit",
            );
            if is_write(method) {
                add(
                    "503",
                    "ROW_BUSY: another database transaction held a row this write needs for longer than engine.busy_wait_ms; nothing changed",
                );
            }
            if keyed {
                add_retry_after(operation);
            }
            name_unnamed_errors(operation);
        }
    }
}

/// Gives an error answer its handler documented without a word the code it
/// comes with.
fn name_unnamed_errors(operation: &mut Operation) {
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !response.description.is_empty() {
            continue;
        }
        response.description = match status.as_str() {
            "400" => "VALIDATION_FAILED: the input does not fit its schema",
            "404" => "NOT_FOUND: nothing by that id",
            "409" => "a conflict with the state: see the error's code",
            "502" => "SUPPLIER_AUTH_FAILED, SUPPLIER_UNAVAILABLE, SUPPLIER_REFUSED or SUPPLIER_BAD_RESPONSE",
            "503" => "SUPPLIER_CIRCUIT_OPEN, or TIMEOUT",
            "504" => "SUPPLIER_TIMEOUT",
            _ => continue,
        }
        .to_owned();
    }
}

/// Documents `status` with the error body, or adds `code` to the codes an
/// existing answer lists.
fn add_error(operation: &mut Operation, status: &str, code: &str) {
    let responses = &mut operation.responses.responses;
    match responses.get_mut(status) {
        Some(RefOr::T(response)) => {
            let name = code.split(':').next().unwrap_or(code);
            if !response.description.contains(name) {
                if response.description.is_empty() {
                    response.description = code.to_owned();
                } else {
                    response.description = format!("{}; or {code}", response.description);
                }
            }
            response
                .content
                .entry("application/json".to_owned())
                .or_insert_with(error_content);
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            let response = ResponseBuilder::new()
                .description(code)
                .content("application/json", error_content())
                .build();
            responses.insert(status.to_owned(), RefOr::T(response));
        }
    }
}

fn error_content() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "ErrorBody",
        ))))
        .build()
}

fn add_retry_after(operation: &mut Operation) {
    if let Some(RefOr::T(response)) = operation.responses.responses.get_mut("429") {
        response.headers.insert(
            "Retry-After".to_owned(),
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                )
                .description(Some("Seconds to wait before the next request."))
                .build(),
        );
    }
}

fn add_idempotency_key(operation: &mut Operation) {
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    if parameters
        .iter()
        .any(|p| p.name.eq_ignore_ascii_case("idempotency-key"))
    {
        return;
    }
    parameters.push(
        ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "The same key with the same request answers the first response again, \
                 without doing it twice; with another request, 422.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[!-~]+$"))
                    .min_length(Some(1))
                    .max_length(Some(IDEMPOTENCY_KEY_LENGTH_MAX)),
            ))
            .build(),
    );
}

/// The limits the service is configured with, as the schemas say them.
pub struct Limits {
    pub page_size_default: u32,
    pub page_size_max: u32,
    pub hold_ttl_max: Duration,
}

impl From<&HttpConfig> for Limits {
    fn from(config: &HttpConfig) -> Limits {
        Limits {
            page_size_default: config.page_size_default,
            page_size_max: config.page_size_max,
            hold_ttl_max: config.hold_ttl_max,
        }
    }
}

impl Modify for Limits {
    fn modify(&self, openapi: &mut OpenApi) {
        for (_, _, operation) in operations(openapi) {
            for parameter in operation.parameters.iter_mut().flatten() {
                if parameter.parameter_in == ParameterIn::Query {
                    if let Some(schema) = parameter.schema.as_mut() {
                        never_null(schema);
                    }
                }
            }
        }
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        if let Some(RefOr::T(Schema::Object(page_size))) = components.schemas.get_mut("PageSize") {
            page_size.maximum = Some(self.page_size_max.into());
            page_size.default = Some(self.page_size_default.into());
        }
        for schema in components.schemas.values_mut() {
            let RefOr::T(Schema::Object(object)) = schema else {
                continue;
            };
            if let Some(RefOr::T(Schema::Object(ttl))) = object.properties.get_mut("ttl_seconds") {
                ttl.maximum = Some(self.hold_ttl_max.as_secs().into());
            }
        }
    }
}

/// A query parameter is left out or has a value; it is never `null`, as
/// utoipa writes an `Option`.
fn never_null(schema: &mut RefOr<Schema>) {
    match schema {
        RefOr::T(Schema::Object(Object { schema_type, .. })) => {
            if let SchemaType::Array(types) = schema_type {
                types.retain(|kind| *kind != Type::Null);
                if let [only] = types.as_slice() {
                    *schema_type = SchemaType::Type(only.clone());
                }
            }
        }
        RefOr::T(Schema::OneOf(one_of)) => {
            one_of.items.retain(|item| {
                !matches!(item, RefOr::T(Schema::Object(object))
                    if object.schema_type == SchemaType::Type(Type::Null))
            });
            if one_of.items.len() == 1 {
                *schema = one_of.items.remove(0);
            }
        }
        _ => {}
    }
}

/// The document of a router made with the default limits.
#[cfg(test)]
pub fn default_document() -> OpenApi {
    let (_, openapi) = crate::routes::api_router().split_for_parts();
    document(openapi, &HttpConfig::default())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::{json, Value};
    use stock_engine::{Engine, EngineConfig};
    use stock_store::{SqliteOptions, SqliteStore, Store};
    use tower::ServiceExt;
    use utoipa::openapi::path::ParameterIn;

    use super::*;

    /// Every operation of the served document: path, method, operation.
    fn each_operation(openapi: &mut OpenApi) -> Vec<(String, &'static str, Operation)> {
        operations(openapi)
            .map(|(path, method, operation)| (path.to_owned(), method, operation.clone()))
            .collect()
    }

    fn template_names(path: &str) -> BTreeSet<String> {
        path.split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
            .collect()
    }

    #[test]
    fn parameters_are_where_they_are_used() {
        let mut openapi = default_document();
        let all = each_operation(&mut openapi);
        assert!(all.len() > 50, "{} operations", all.len());
        for (path, method, operation) in all {
            let parameters = operation.parameters.clone().unwrap_or_default();
            let in_path: BTreeSet<String> = parameters
                .iter()
                .filter(|p| p.parameter_in == ParameterIn::Path)
                .map(|p| p.name.clone())
                .collect();
            // A query parameter declared in the path would be in no template.
            assert_eq!(
                in_path,
                template_names(&path),
                "{method} {path}: path parameters and the template differ"
            );
            for parameter in &parameters {
                if parameter.parameter_in == ParameterIn::Path {
                    assert!(
                        matches!(parameter.required, Required::True),
                        "{method} {path}"
                    );
                }
                if parameter.parameter_in == ParameterIn::Query {
                    let shown = serde_json::to_string(&parameter.schema).unwrap();
                    assert!(!shown.contains("\"null\""), "{method} {path}: {shown}");
                }
            }
        }
    }

    #[test]
    fn every_keyed_operation_documents_the_answers_every_operation_can_give() {
        let mut openapi = default_document();
        for (path, method, operation) in each_operation(&mut openapi) {
            assert!(path.starts_with("/api/v1/"), "{path}");
            let role = needed_role(&operation).expect("every /api/v1 operation needs a key");
            let documented: BTreeSet<&str> = operation
                .responses
                .responses
                .keys()
                .map(String::as_str)
                .collect();
            for status in ["401", "415", "429", "500", "503"] {
                assert!(documented.contains(status), "{method} {path}: no {status}");
            }
            assert_eq!(
                documented.contains("403"),
                role != Role::Storefront || path == "/api/v1/events",
                "{method} {path}: 403 and its role ({role:?}) disagree"
            );
            if operation.request_body.is_some() {
                for status in ["400", "413"] {
                    assert!(documented.contains(status), "{method} {path}: no {status}");
                }
            }
            if is_write(method) {
                for status in ["409", "422"] {
                    assert!(documented.contains(status), "{method} {path}: no {status}");
                }
            }
            for (status, response) in &operation.responses.responses {
                let RefOr::T(response) = response else {
                    continue;
                };
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        !response.description.is_empty(),
                        "{method} {path}: {status} says nothing"
                    );
                }
            }
        }
    }

    /// Every `$ref` in `value`.
    fn references(value: &Value, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(target)) => {
                            found.insert(target.clone());
                        }
                        _ => references(value, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| references(item, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let shown = serde_json::to_value(default_document()).unwrap();
        let mut found = BTreeSet::new();
        references(&shown, &mut found);
        assert!(found.contains("#/components/schemas/Id"));
        for target in found {
            let name = target
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{target} is not a schema"));
            assert!(
                shown["components"]["schemas"][name].is_object(),
                "{target} names no schema"
            );
        }
    }

    #[test]
    fn the_configured_limits_are_in_the_schemas() {
        let config = HttpConfig {
            page_size_default: 7,
            page_size_max: 30,
            hold_ttl_max: Duration::from_secs(600),
            ..HttpConfig::default()
        };
        let (_, openapi) = crate::routes::api_router().split_for_parts();
        let shown = serde_json::to_value(document(openapi, &config)).unwrap();
        let lines_max = stock_core::LINES_MAX;
        let expected = [
            ("PageSize/maximum", json!(30)),
            ("PageSize/default", json!(7)),
            (
                "CreateReservationRequest/properties/ttl_seconds/maximum",
                json!(600),
            ),
            (
                "CreateOrderRequest/properties/ttl_seconds/maximum",
                json!(600),
            ),
            ("ExtendRequest/properties/ttl_seconds/maximum", json!(600)),
            ("ExtendRequest/properties/ttl_seconds/minimum", json!(1)),
            (
                "ChannelOrderRequest/properties/ttl_seconds/maximum",
                json!(600),
            ),
            ("LinesRequest/properties/items/maxItems", json!(lines_max)),
            (
                "CreateReservationRequest/properties/items/maxItems",
                json!(lines_max),
            ),
            (
                "CreateOrderRequest/properties/items/maxItems",
                json!(lines_max),
            ),
            (
                "ChannelOrderRequest/properties/items/maxItems",
                json!(lines_max),
            ),
            ("Id/maxLength", json!(stock_core::ID_LENGTH_MAX)),
            ("LineIn/properties/quantity/minimum", json!(1)),
            ("Name/minLength", json!(1)),
        ];
        for (pointer, value) in expected {
            let found = shown.pointer(&format!("/components/schemas/{pointer}"));
            assert_eq!(found, Some(&value), "{pointer}");
        }
    }

    /// The service on a fresh SQLite database, with one key of each role
    /// below admin: (router, storefront secret, service secret).
    async fn service() -> (tempfile::TempDir, axum::Router, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("t.db")))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let mut secrets = Vec::new();
        for role in [Role::Storefront, Role::Service] {
            let key = crate::generate_key();
            store
                .create_key(
                    &key.id,
                    role.as_str(),
                    role,
                    &crate::hash_secret(&key.secret),
                )
                .await
                .unwrap();
            secrets.push(key.secret);
        }
        let engine = Engine::start(Arc::clone(&store), EngineConfig::default());
        let jobs = stock_jobs::Jobs::new(store, engine, stock_jobs::JobSettings::default());
        let state = crate::AppState::new(jobs, HttpConfig::default());
        let [storefront, service] = <[String; 2]>::try_from(secrets).unwrap();
        (dir, crate::router(state), storefront, service)
    }

    /// A path of the template with each parameter filled in.
    fn filled(path: &str, operation: &Operation) -> String {
        let mut path = path.to_owned();
        for parameter in operation.parameters.iter().flatten() {
            if parameter.parameter_in == ParameterIn::Path {
                let shown = serde_json::to_string(&parameter.schema).unwrap();
                let value = if shown.contains("integer") { "1" } else { "x1" };
                path = path.replace(&format!("{{{}}}", parameter.name), value);
            }
        }
        path
    }

    async fn status(
        router: &axum::Router,
        method: &str,
        path: &str,
        key: Option<&str>,
    ) -> StatusCode {
        let mut request = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(path);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let request = request.body(Body::empty()).unwrap();
        router.clone().oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn the_documented_role_is_the_one_enforced_and_401_is_answered_without_a_key() {
        let (_dir, router, storefront, service) = service().await;
        let mut openapi = default_document();
        let keys = [(Role::Storefront, storefront), (Role::Service, service)];
        for (template, method, operation) in each_operation(&mut openapi) {
            let path = filled(&template, &operation);
            let role = needed_role(&operation).unwrap();
            assert_eq!(
                status(&router, method, &path, None).await,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a key"
            );
            for (key_role, secret) in &keys {
                let answered = status(&router, method, &path, Some(secret)).await;
                assert_eq!(
                    answered == StatusCode::FORBIDDEN,
                    !key_role.allows(role),
                    "{method} {path} with a {key_role:?} key answered {answered}; its scope is {role:?}"
                );
            }
        }
    }
}
