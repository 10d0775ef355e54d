//! The Haier-style open platform API, as [`crate::haier`] calls it and the
//! crate `stock-supplier-mock` serves it: written once, here, for both. Field
//! names are the platform's (camelCase).
//!
//! Authentication is OAuth2 client credentials: `POST {token_url}` with a
//! form body `grant_type=client_credentials&client_id=…&client_secret=…`
//! answers [`TokenResponse`]; a refused client gets 401 with
//! `{"error": "invalid_client"}`. Every API call is then
//! `POST {base_url}{PATH}` with a JSON body and `Authorization: Bearer
//! <access_token>`, answered with an [`Envelope`]: `{"success": true,
//! "code": "0", "message": "ok", "data": …}`. A token that is unknown or
//! expired gets 401; an unknown product 404 with code `PRODUCT_NOT_FOUND`;
//! a request the platform refuses, 4xx (or 200) with `success: false`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const STOCK_PATH: &str = "/api/stock/check";
pub const PRODUCTS_PATH: &str = "/api/products/list";
pub const PRICES_PATH: &str = "/api/products/prices";
pub const BALANCE_PATH: &str = "/api/account/balance";
pub const LOGISTICS_PATH: &str = "/api/logistics/query";

/// Where each call goes, under the base URL. The defaults are the paths
/// above; a platform that puts them elsewhere is configured with its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPaths {
    pub stock: String,
    pub products: String,
    pub prices: String,
    pub balance: String,
    pub logistics: String,
}

impl Default for ApiPaths {
    fn default() -> Self {
        ApiPaths {
            stock: STOCK_PATH.to_owned(),
            products: PRODUCTS_PATH.to_owned(),
            prices: PRICES_PATH.to_owned(),
            balance: BALANCE_PATH.to_owned(),
            logistics: LOGISTICS_PATH.to_owned(),
        }
    }
}

/// The platform's code for a product it does not know.
pub const PRODUCT_NOT_FOUND: &str = "PRODUCT_NOT_FOUND";

/// Products per page of [`PRODUCTS_PATH`] at most.
pub const PRODUCTS_PAGE_SIZE_MAX: u32 = 100;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRequest {
    pub grant_type: String,
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default = "bearer")]
    pub token_type: String,
    /// Seconds the token is good for.
    pub expires_in: u64,
}

fn bearer() -> String {
    "Bearer".to_owned()
}

/// Every API answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub success: bool,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default = "Option::default")]
    pub data: Option<T>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockRequest {
    pub product_code: String,
    pub county_code: String,
    /// The stock source, `JSH-B` unless configured otherwise.
    pub source: String,
    pub customer_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_to_code: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockData {
    pub stock: i64,
    #[serde(default)]
    pub sec_code: Option<String>,
    #[serde(default)]
    pub warehouse_grade: Option<String>,
    /// `{cutTime, achieveUserOrderCut, hour, isTranfer}`.
    #[serde(default)]
    pub timeliness_data: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductsRequest {
    pub customer_code: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// From 1.
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductData {
    pub product_code: String,
    pub product_name: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductsPage {
    pub items: Vec<ProductData>,
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricesRequest {
    pub customer_code: String,
    pub product_codes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceData {
    pub product_code: String,
    /// A decimal string, `"3299.00"`.
    pub price: String,
    #[serde(default)]
    pub market_price: Option<String>,
    #[serde(default = "cny")]
    pub currency: String,
}

fn cny() -> String {
    "CNY".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceRequest {
    pub customer_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceData {
    pub balance: String,
    #[serde(default)]
    pub credit_limit: Option<String>,
    #[serde(default = "cny")]
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogisticsRequest {
    pub order_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_record_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    pub customer_code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogisticsData {
    pub order_code: String,
    pub status: String,
    #[serde(default)]
    pub carrier: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    /// `{time, description}`, oldest first.
    #[serde(default)]
    pub events: Vec<Value>,
}
