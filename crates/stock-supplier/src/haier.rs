//! The Haier-style open platform adapter: OAuth2 client credentials, a token
//! kept until shortly before it expires and renewed once on a 401, JSON
//! calls with a timeout, retries on network errors and 5xx only, and a
//! circuit breaker. The wire format is [`crate::protocol`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::breaker::{Breaker, CircuitState};
use crate::clock::{Clock, SystemClock};
use crate::protocol::*;
use crate::retry::jitter_seed;
use crate::{
    AccountBalance, CallPolicy, Logistics, LogisticsQuery, ProductPrice, ProductQuery, StockQuote,
    Supplier, SupplierError, SupplierProduct, SupplierResult,
};

/// The longest part of a supplier's answer quoted in an error message.
const DETAIL_LENGTH_MAX: usize = 200;
/// The longest a token is kept, whatever `expires_in` says: a lifetime past
/// what the clock can count would panic when its renewal time is reckoned.
const TOKEN_LIFETIME_MAX: Duration = Duration::from_secs(24 * 60 * 60);
/// Product codes per prices call.
pub const PRICE_CODES_MAX: usize = 100;

/// A value that must never be printed: `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// `suppliers.<name>` for `kind: haier`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaierConfig {
    pub name: String,
    /// The API's root, without a trailing `/`.
    pub base_url: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub customer_code: String,
    pub send_to_code: Option<String>,
    /// Sent with balance queries when the platform asks for it.
    pub password: Option<Secret>,
    /// The stock source asked for unless a call names one.
    pub source: String,
    /// Where each call goes under `base_url`.
    pub paths: ApiPaths,
    pub policy: CallPolicy,
    /// A token is renewed this long before it expires.
    pub token_refresh_margin: Duration,
    /// Products per page when the catalogue is read.
    pub products_page_size: u32,
    /// The most products a catalogue read accepts.
    pub products_max: usize,
}

impl HaierConfig {
    /// A configuration with the defaults, for the named endpoints and client.
    pub fn new(name: &str, base_url: &str, token_url: &str, client_id: &str, secret: &str) -> Self {
        HaierConfig {
            name: name.to_owned(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            token_url: token_url.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: Secret::new(secret),
            customer_code: String::new(),
            send_to_code: None,
            password: None,
            source: "JSH-B".to_owned(),
            paths: ApiPaths::default(),
            policy: CallPolicy::default(),
            token_refresh_margin: Duration::from_secs(60),
            products_page_size: PRODUCTS_PAGE_SIZE_MAX,
            products_max: 100_000,
        }
    }
}

struct Token {
    header: Secret,
    /// When it is renewed: its expiry less the margin.
    renew_at: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("renew_at", &self.renew_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct HaierSupplier {
    config: HaierConfig,
    http: reqwest::Client,
    /// Held while a token is fetched, so concurrent callers wait for one
    /// request instead of each making their own.
    token: tokio::sync::Mutex<Option<Token>>,
    breaker: Breaker,
    /// What a token's age and the breaker's open time are reckoned on.
    clock: Arc<dyn Clock>,
}

/// How one try ended, before retries decide what to do with it.
enum Failure {
    /// The token was refused: renew it and try once more.
    Unauthorized,
    Error(SupplierError),
}

impl From<SupplierError> for Failure {
    fn from(error: SupplierError) -> Self {
        Failure::Error(error)
    }
}

impl HaierSupplier {
    pub fn new(config: HaierConfig) -> anyhow::Result<HaierSupplier> {
        HaierSupplier::with_clock(config, Arc::new(SystemClock))
    }

    /// A supplier whose tokens age and whose breaker waits on `clock`.
    pub fn with_clock(config: HaierConfig, clock: Arc<dyn Clock>) -> anyhow::Result<HaierSupplier> {
        let http = reqwest::Client::builder()
            .timeout(config.policy.timeout)
            .connect_timeout(config.policy.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("stockd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| anyhow::anyhow!("building the HTTP client: {error}"))?;
        let breaker = Breaker::new(config.policy.breaker.clone());
        Ok(HaierSupplier {
            config,
            http,
            token: tokio::sync::Mutex::new(None),
            breaker,
            clock,
        })
    }

    pub fn config(&self) -> &HaierConfig {
        &self.config
    }

    fn name(&self) -> String {
        self.config.name.clone()
    }

    /// One API call, through the breaker and the retries.
    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> SupplierResult<T> {
        let permit =
            self.breaker
                .admit(self.clock.now())
                .map_err(|refused| SupplierError::CircuitOpen {
                    supplier: self.name(),
                    retry_after_ms: u64::try_from(refused.retry_after.as_millis())
                        .unwrap_or(u64::MAX),
                })?;
        // Dropped here unanswered, the permit gives a trial's slot back.
        let result = self.call_with_retries(path, body).await;
        match &result {
            Ok(_) => permit.succeeded(),
            Err(error) if error.is_supplier_failure() => permit.failed(self.clock.now()),
            // The supplier answered: it is up, whatever it said.
            Err(SupplierError::NotFound { .. } | SupplierError::Refused { .. }) => {
                permit.succeeded()
            }
            Err(_) => permit.neutral(),
        }
        result
    }

    async fn call_with_retries<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> SupplierResult<T> {
        let retry = &self.config.policy.retry;
        let mut attempt = 1;
        loop {
            match self.call_renewing_once(path, body).await {
                Err(error) if retryable(&error) && attempt < retry.attempts_max => {
                    let delay = retry.delay(attempt, jitter_seed());
                    tracing::info!(supplier = %self.config.name, path, attempt, delay_ms = delay.as_millis() as u64,
                        error = %error, "supplier call failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// One try; a 401 drops the token, fetches a new one and tries once more.
    async fn call_renewing_once<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> SupplierResult<T> {
        let header = self.token_header(None).await?;
        match self.send(path, body, &header).await {
            Err(Failure::Unauthorized) => {
                tracing::info!(supplier = %self.config.name, path, "token refused; renewing it once");
                let header = self.token_header(Some(&header)).await?;
                match self.send(path, body, &header).await {
                    Err(Failure::Unauthorized) => Err(SupplierError::Auth {
                        supplier: self.name(),
                        detail: "a freshly issued token was refused".to_owned(),
                    }),
                    Err(Failure::Error(error)) => Err(error),
                    Ok(data) => Ok(data),
                }
            }
            Err(Failure::Error(error)) => Err(error),
            Ok(data) => Ok(data),
        }
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        header: &Secret,
    ) -> Result<T, Failure> {
        let url = format!("{}{path}", self.config.base_url);
        let request = self
            .http
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, header.expose())
            .json(body);
        let (status, bytes) = self.exchange(request).await?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(Failure::Unauthorized);
        }
        let envelope = serde_json::from_slice::<Envelope<T>>(&bytes);
        if status.is_server_error() {
            return Err(SupplierError::Unavailable {
                supplier: self.name(),
                detail: format!("HTTP {}{}", status.as_u16(), self.said(&bytes)),
            }
            .into());
        }
        let envelope = match envelope {
            Ok(envelope) => envelope,
            // Not the API's answer at all (a wrong base_url, a proxy's page):
            // the request was refused, whatever its status says.
            Err(_) if status.is_client_error() => {
                return Err(SupplierError::Refused {
                    supplier: self.name(),
                    detail: format!("HTTP {} without the API's JSON", status.as_u16()),
                }
                .into())
            }
            Err(error) => {
                return Err(SupplierError::Malformed {
                    supplier: self.name(),
                    detail: clip(&format!("the {path} answer is not the API's JSON: {error}")),
                }
                .into())
            }
        };
        if !status.is_success() || !envelope.success {
            return Err(self
                .refused(status, envelope.code.as_deref(), &bytes)
                .into());
        }
        envelope.data.ok_or_else(|| {
            SupplierError::Malformed {
                supplier: self.name(),
                detail: format!("the {path} answer has no data"),
            }
            .into()
        })
    }

    fn refused(&self, status: StatusCode, code: Option<&str>, bytes: &[u8]) -> SupplierError {
        if status == StatusCode::NOT_FOUND || code == Some(PRODUCT_NOT_FOUND) {
            return SupplierError::NotFound {
                supplier: self.name(),
                what: format!("what was asked for{}", self.said(bytes)),
            };
        }
        SupplierError::Refused {
            supplier: self.name(),
            detail: format!("HTTP {}{}", status.as_u16(), self.said(bytes)),
        }
    }

    /// What an error envelope said, with any configured secret the supplier
    /// echoed back blanked out.
    fn said(&self, bytes: &[u8]) -> String {
        let mut text = said(bytes);
        let secrets = [
            Some(&self.config.client_secret),
            self.config.password.as_ref(),
        ];
        for secret in secrets.into_iter().flatten() {
            if !secret.is_empty() {
                text = text.replace(secret.expose(), "***");
            }
        }
        text
    }

    /// Sends a request and reads its whole answer, within the call's timeout.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> SupplierResult<(StatusCode, Vec<u8>)> {
        let response = request
            .send()
            .await
            .map_err(|error| self.transport(error))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| self.transport(error))?;
        Ok((status, Vec::from(bytes)))
    }

    fn transport(&self, error: reqwest::Error) -> SupplierError {
        if error.is_timeout() {
            return SupplierError::Timeout {
                supplier: self.name(),
                timeout_ms: u64::try_from(self.config.policy.timeout.as_millis())
                    .unwrap_or(u64::MAX),
            };
        }
        // The URL is left out: it names the supplier's host, which the
        // configuration already says, and nothing a caller needs.
        let error = error.without_url();
        SupplierError::Unavailable {
            supplier: self.name(),
            detail: clip(&error_chain(&error)),
        }
    }

    /// The `Authorization` header: the kept token, or a new one when it is
    /// missing, due, or the one the supplier just `refused`. A caller whose
    /// refused token was already replaced by another caller takes the
    /// replacement rather than fetching yet another.
    async fn token_header(&self, refused: Option<&Secret>) -> SupplierResult<Secret> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.as_ref() {
            let refused_now = refused.is_some_and(|r| *r == token.header);
            if !refused_now && self.clock.now() < token.renew_at {
                return Ok(token.header.clone());
            }
        }
        *slot = None;
        let token = self.fetch_token().await?;
        let header = token.header.clone();
        *slot = Some(token);
        Ok(header)
    }

    async fn fetch_token(&self) -> SupplierResult<Token> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.config.client_secret.expose()),
        ];
        let request = self.http.post(&self.config.token_url).form(&form);
        let (status, bytes) = self.exchange(request).await?;
        if status.is_server_error() {
            return Err(SupplierError::Unavailable {
                supplier: self.name(),
                detail: format!("token endpoint: HTTP {}", status.as_u16()),
            });
        }
        if !status.is_success() {
            return Err(SupplierError::Auth {
                supplier: self.name(),
                detail: format!(
                    "the token endpoint answered HTTP {}{}",
                    status.as_u16(),
                    oauth_error(&bytes)
                ),
            });
        }
        let token: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|_| SupplierError::Malformed {
                supplier: self.name(),
                detail: "the token endpoint's answer is not a token".to_owned(),
            })?;
        if token.access_token.is_empty() {
            return Err(SupplierError::Malformed {
                supplier: self.name(),
                detail: "the token endpoint gave an empty token".to_owned(),
            });
        }
        let lifetime = Duration::from_secs(token.expires_in).min(TOKEN_LIFETIME_MAX);
        // A short-lived token is renewed halfway rather than never used.
        let margin = self.config.token_refresh_margin.min(lifetime / 2);
        tracing::debug!(supplier = %self.config.name, expires_in_s = token.expires_in, "supplier token issued");
        Ok(Token {
            header: Secret::new(format!(
                "{} {}",
                token_type(&token.token_type),
                token.access_token
            )),
            renew_at: self.clock.now() + lifetime - margin,
        })
    }

    fn product_not_found(&self, product_code: &str) -> SupplierError {
        SupplierError::NotFound {
            supplier: self.name(),
            what: format!("product {product_code}"),
        }
    }

    async fn products_page(&self, query: &ProductQuery, page: u32) -> SupplierResult<ProductsPage> {
        let request = ProductsRequest {
            customer_code: self.config.customer_code.clone(),
            product_codes: query.product_codes.clone(),
            category: query.category.clone(),
            brand: query.brand.clone(),
            page,
            page_size: self.config.products_page_size,
        };
        self.call(&self.config.paths.products, &request).await
    }
}

fn retryable(error: &SupplierError) -> bool {
    matches!(
        error,
        SupplierError::Unavailable { .. } | SupplierError::Timeout { .. }
    )
}

/// OAuth2 names the scheme `bearer` in any case; the header wants `Bearer`.
fn token_type(kind: &str) -> &str {
    if kind.is_empty() || kind.eq_ignore_ascii_case("bearer") {
        "Bearer"
    } else {
        kind
    }
}

/// What an error envelope said, for a message: `: CODE message`.
fn said(bytes: &[u8]) -> String {
    match serde_json::from_slice::<Envelope<serde_json::Value>>(bytes) {
        Ok(envelope) => {
            let text = [envelope.code, envelope.message]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            if text.is_empty() {
                String::new()
            } else {
                format!(": {}", clip(&text))
            }
        }
        Err(_) => String::new(),
    }
}

/// The OAuth2 `error` code of a refused token request, never its other fields.
fn oauth_error(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|value| value.get("error")?.as_str().map(clip))
        .map(|code| format!(" ({code})"))
        .unwrap_or_default()
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(DETAIL_LENGTH_MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait]
impl Supplier for HaierSupplier {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn check_stock(
        &self,
        product_code: &str,
        county_code: &str,
        source: Option<&str>,
    ) -> SupplierResult<StockQuote> {
        let request = StockRequest {
            product_code: product_code.to_owned(),
            county_code: county_code.to_owned(),
            source: source.unwrap_or(&self.config.source).to_owned(),
            customer_code: self.config.customer_code.clone(),
            send_to_code: self.config.send_to_code.clone(),
        };
        let data: StockData = self
            .call(&self.config.paths.stock, &request)
            .await
            .map_err(|error| match error {
                SupplierError::NotFound { .. } => self.product_not_found(product_code),
                other => other,
            })?;
        if data.stock < 0 {
            return Err(SupplierError::Malformed {
                supplier: self.name(),
                detail: format!("a stock of {} for {product_code}", data.stock),
            });
        }
        Ok(StockQuote {
            product_code: product_code.to_owned(),
            county_code: county_code.to_owned(),
            stock: data.stock,
            sec_code: data.sec_code,
            warehouse_grade: data.warehouse_grade,
            timeliness: data.timeliness_data,
        })
    }

    async fn products(&self, query: &ProductQuery) -> SupplierResult<Vec<SupplierProduct>> {
        let mut products = Vec::new();
        let mut page = 1;
        loop {
            let answer = self.products_page(query, page).await?;
            let count = answer.items.len();
            products.extend(answer.items.into_iter().map(|p| SupplierProduct {
                product_code: p.product_code,
                name: p.product_name,
                category: p.category,
                brand: p.brand,
                model: p.model,
            }));
            if products.len() > self.config.products_max {
                return Err(SupplierError::Refused {
                    supplier: self.name(),
                    detail: format!(
                        "the catalogue has more than {} products (suppliers.{}.products_max)",
                        self.config.products_max, self.config.name
                    ),
                });
            }
            if count == 0 || products.len() as u64 >= answer.total {
                return Ok(products);
            }
            page += 1;
        }
    }

    async fn prices(&self, product_codes: &[String]) -> SupplierResult<Vec<ProductPrice>> {
        let mut prices = Vec::with_capacity(product_codes.len());
        for codes in product_codes.chunks(PRICE_CODES_MAX) {
            let request = PricesRequest {
                customer_code: self.config.customer_code.clone(),
                product_codes: codes.to_vec(),
            };
            let data: Vec<PriceData> = self.call(&self.config.paths.prices, &request).await?;
            prices.extend(data.into_iter().map(|p| ProductPrice {
                product_code: p.product_code,
                price: p.price,
                market_price: p.market_price,
                currency: p.currency,
            }));
        }
        Ok(prices)
    }

    async fn balance(&self) -> SupplierResult<AccountBalance> {
        let request = BalanceRequest {
            customer_code: self.config.customer_code.clone(),
            password: self.config.password.as_ref().map(|p| p.expose().to_owned()),
        };
        let data: BalanceData = self.call(&self.config.paths.balance, &request).await?;
        Ok(AccountBalance {
            balance: data.balance,
            credit_limit: data.credit_limit,
            currency: data.currency,
        })
    }

    async fn logistics(&self, query: &LogisticsQuery) -> SupplierResult<Logistics> {
        let request = LogisticsRequest {
            order_code: query.order_code.clone(),
            delivery_record_code: query.delivery_record_code.clone(),
            member_id: query.member_id.clone(),
            customer_code: self.config.customer_code.clone(),
        };
        let data: LogisticsData = self.call(&self.config.paths.logistics, &request).await?;
        Ok(Logistics {
            order_code: data.order_code,
            status: data.status,
            carrier: data.carrier,
            tracking_number: data.tracking_number,
            events: data.events,
        })
    }

    fn circuit(&self) -> CircuitState {
        self.breaker.state(self.clock.now())
    }
}
