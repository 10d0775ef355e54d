//! What each API path answers, from the sample catalogue.

use serde_json::{json, Value};
use stock_supplier::protocol::{
    BalanceData, BalanceRequest, LogisticsData, LogisticsRequest, PriceData, PricesRequest,
    ProductsPage, ProductsRequest, StockData, StockRequest, PRODUCTS_PAGE_SIZE_MAX,
    PRODUCT_NOT_FOUND,
};

use crate::api::{check_county_code, ApiError, CODE_ORDER_NOT_FOUND};
use crate::catalogue::{find_sample, product_data, sample_hash, SampleProduct, CATALOGUE};
use crate::MockState;

pub(crate) fn answer_stock(
    state: &MockState,
    request: StockRequest,
) -> Result<StockData, ApiError> {
    check_county_code(&request.county_code)?;
    let product = find_product(&request.product_code)?;
    let stock = state.stock(product, &request.county_code);
    Ok(stock_data(product, &request.county_code, stock))
}

/// `0`: the county's own warehouse; `1`: the city's, one level up.
fn stock_data(product: &SampleProduct, county_code: &str, stock: i64) -> StockData {
    let is_city_warehouse = sample_hash(&[product.code, county_code, "grade"]) % 2 == 1;
    let (warehouse_grade, warehouse_region) = if is_city_warehouse {
        ("1", format!("{}00", &county_code[..4]))
    } else {
        ("0", county_code.to_owned())
    };
    StockData {
        stock,
        sec_code: Some(format!("WH{warehouse_region}-01")),
        warehouse_grade: Some(warehouse_grade.to_owned()),
        timeliness_data: json!({
            "cutTime": "18:00",
            "achieveUserOrderCut": "18:00前下单，24小时内送达",
            "hour": "24",
            "isTranfer": "0",
        }),
    }
}

pub(crate) fn answer_products(
    _: &MockState,
    request: ProductsRequest,
) -> Result<ProductsPage, ApiError> {
    check_page(request.page, request.page_size)?;
    let matching: Vec<&SampleProduct> = CATALOGUE
        .iter()
        .filter(|product| product_matches(product, &request))
        .collect();
    let skipped = (request.page as usize - 1).saturating_mul(request.page_size as usize);
    let items = matching
        .iter()
        .skip(skipped)
        .take(request.page_size as usize);
    Ok(ProductsPage {
        items: items.map(|product| product_data(product)).collect(),
        total: matching.len() as u64,
        page: request.page,
        page_size: request.page_size,
    })
}

fn check_page(page: u32, page_size: u32) -> Result<(), ApiError> {
    if page == 0 {
        return Err(ApiError::invalid_parameter("page counts from 1".to_owned()));
    }
    if page_size == 0 || page_size > PRODUCTS_PAGE_SIZE_MAX {
        let message = format!("pageSize must be 1 to {PRODUCTS_PAGE_SIZE_MAX}, not {page_size}");
        return Err(ApiError::invalid_parameter(message));
    }
    Ok(())
}

fn product_matches(product: &SampleProduct, request: &ProductsRequest) -> bool {
    let codes = &request.product_codes;
    let code_matches = codes.is_empty() || codes.iter().any(|code| code == product.code);
    let category_matches = request
        .category
        .as_deref()
        .is_none_or(|c| c == product.category);
    let brand_matches = request
        .brand
        .as_deref()
        .is_none_or(|brand| brand == product.brand);
    code_matches && category_matches && brand_matches
}

/// An unknown code fails the whole request, as it does for stock.
pub(crate) fn answer_prices(
    _: &MockState,
    request: PricesRequest,
) -> Result<Vec<PriceData>, ApiError> {
    let products = request.product_codes.iter().map(|code| find_product(code));
    let products = products.collect::<Result<Vec<_>, _>>()?;
    Ok(products.into_iter().map(price_data).collect())
}

/// The market price is the dealer price plus a fifth, ending in 99 as shop
/// prices do.
fn price_data(product: &SampleProduct) -> PriceData {
    let market_price_yuan = product.price_yuan * 6 / 5 / 100 * 100 + 99;
    PriceData {
        product_code: product.code.to_owned(),
        price: format!("{}.00", product.price_yuan),
        market_price: Some(format!("{market_price_yuan}.00")),
        currency: "CNY".to_owned(),
    }
}

pub(crate) fn answer_balance(_: &MockState, _: BalanceRequest) -> Result<BalanceData, ApiError> {
    Ok(BalanceData {
        balance: "128000.00".to_owned(),
        credit_limit: Some("50000.00".to_owned()),
        currency: "CNY".to_owned(),
    })
}

/// Sales orders (`SO…`) exist; any other code does not.
pub(crate) fn answer_logistics(
    _: &MockState,
    request: LogisticsRequest,
) -> Result<LogisticsData, ApiError> {
    let order_code = request.order_code;
    let is_sales_order = order_code.len() > 2 && order_code.starts_with("SO");
    if !is_sales_order {
        let message = format!("order {order_code} not found");
        return Err(ApiError::not_found(CODE_ORDER_NOT_FOUND, message));
    }
    Ok(logistics_data(order_code))
}

/// Three steps, the last of which is where the shipment is now.
fn logistics_data(order_code: String) -> LogisticsData {
    const LAST_STEPS: [(&str, &str); 3] = [
        ("运输中", "快件已从青岛分拨中心发出，正在运往目的地"),
        ("派送中", "快件已到达服务网点，日日顺师傅正在送货安装途中"),
        ("已签收", "快件已签收，签收人：本人"),
    ];
    let hash = sample_hash(&[&order_code]);
    // Days 1 to 27, so that the third step still falls in June.
    let day = 1 + hash % 27;
    let (status, last_step) = LAST_STEPS[(hash >> 8) as usize % LAST_STEPS.len()];
    let events = vec![
        logistics_event(day, "09:30", "订单已出库，仓库：WH370212-01"),
        logistics_event(day + 1, "07:45", "快件已到达青岛分拨中心"),
        logistics_event(day + 2, "14:20", last_step),
    ];
    LogisticsData {
        tracking_number: Some(format!("RRS{:010}", hash % 10_000_000_000)),
        order_code,
        status: status.to_owned(),
        carrier: Some("日日顺物流".to_owned()),
        events,
    }
}

fn logistics_event(june_day: u64, time: &str, description: &str) -> Value {
    json!({"time": format!("2025-06-{june_day:02} {time}:00"), "description": description})
}

fn find_product(product_code: &str) -> Result<&'static SampleProduct, ApiError> {
    find_sample(product_code).ok_or_else(|| {
        let message = format!("product {product_code} not found");
        ApiError::not_found(PRODUCT_NOT_FOUND, message)
    })
}
