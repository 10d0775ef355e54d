//! The OpenAPI document and the documentation page.
//!
//! The page is Swagger UI, vendored from the `swagger-ui-dist` package
//! (Apache-2.0, see `assets/swagger-ui/`) and served from the binary, so it
//! works without a network. The document is embedded in the page, so the
//! page needs no key; `GET /api/v1/openapi.json` needs one, like every
//! `/api/v1` route.

use std::sync::Arc;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::OpenApi;

use crate::AppState;

const SWAGGER_JS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");

pub fn openapi_route(openapi: Arc<OpenApi>) -> Router<AppState> {
    Router::new().route(
        "/api/v1/openapi.json",
        get(move || async move { Json(openapi.as_ref().clone()) }),
    )
}

pub fn docs_routes(openapi: Arc<OpenApi>) -> Router<AppState> {
    let page = Html(docs_page(&openapi));
    Router::new()
        .route("/docs", get(move || async move { page.clone() }))
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async {
                (
                    [
                        (CONTENT_TYPE, "text/javascript"),
                        (CACHE_CONTROL, "public, max-age=86400"),
                    ],
                    SWAGGER_JS,
                )
                    .into_response()
            }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async {
                (
                    [
                        (CONTENT_TYPE, "text/css"),
                        (CACHE_CONTROL, "public, max-age=86400"),
                    ],
                    SWAGGER_CSS,
                )
                    .into_response()
            }),
        )
}

fn docs_page(openapi: &OpenApi) -> String {
    // Inside a <script>, "</" could close the tag: escape it.
    let spec = serde_json::to_string(openapi)
        .expect("the OpenAPI document serializes")
        .replace("</", "<\\/");
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stockd API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{ spec: {spec}, dom_id: "#docs", deepLinking: true, persistAuthorization: true }});
</script>
</body>
</html>
"##
    )
}
