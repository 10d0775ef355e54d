//! `stockd serve --demo`: sample items, so a new user sees something at once.

use anyhow::Context;
use stock_core::{Item, ItemId, ItemStatus, LocationId};
use stock_engine::Engine;
use stock_store::{Command, ItemFilter, Page, Reply, Store, WriteMeta};

/// (id, name, opening stock, low-stock threshold)
const SAMPLES: &[(&str, &str, i64, i64)] = &[
    ("1001", "Jasmine green tea 250 g / 茉莉绿茶", 120, 20),
    ("1002", "Oolong tea 200 g / 乌龙茶", 64, 20),
    ("1003", "Pu-erh tea cake 357 g / 普洱茶饼", 8, 10),
    ("1004", "Longjing tea 100 g / 龙井", 0, 10),
    ("1005", "Chrysanthemum tea 50 g / 菊花茶", 240, 30),
    ("1006", "Ceramic teapot / 陶瓷茶壶", 15, 5),
    ("1007", "Glass tea cup, set of 4 / 玻璃茶杯", 3, 5),
    ("1008", "Bamboo tea tray / 竹茶盘", 22, 5),
    ("2001", "Rice cooker 3 L / 电饭煲", 35, 10),
    ("2002", "Electric kettle 1.7 L / 电水壶", 58, 10),
    ("2003", "Soy milk maker / 豆浆机", 6, 8),
    ("2004", "Air fryer 5 L / 空气炸锅", 0, 8),
    ("2005", "Steamer basket / 蒸笼", 90, 15),
    ("2006", "Chef's knife / 厨师刀", 41, 10),
    ("2007", "Cutting board / 砧板", 77, 10),
    ("2008", "Wok 32 cm / 炒锅", 12, 10),
    ("3001", "Cotton T-shirt, white, M / 纯棉T恤", 300, 50),
    ("3002", "Cotton T-shirt, black, L / 纯棉T恤", 180, 50),
    ("3003", "Down jacket, navy, L / 羽绒服", 9, 10),
    ("3004", "Wool scarf / 羊毛围巾", 45, 10),
    ("3005", "Canvas sneakers 42 / 帆布鞋", 0, 5),
    ("3006", "Rain umbrella / 雨伞", 130, 20),
    ("4001", "Notebook A5 / 笔记本", 500, 100),
    ("4002", "Gel pen, 10 pack / 中性笔", 260, 50),
    ("4003", "Desk lamp / 台灯", 17, 5),
    ("4004", "Backpack 20 L / 双肩包", 28, 10),
    ("4005", "Power bank 10000 mAh / 充电宝", 4, 10),
    ("4006", "USB-C cable 1 m / 数据线", 350, 50),
    ("5001", "Sichuan pepper 100 g / 花椒", 66, 15),
    ("5002", "Chili oil 200 ml / 辣椒油", 1, 15),
    ("5003", "Dried shiitake 250 g / 香菇干", 38, 10),
    ("5004", "Jasmine rice 5 kg / 香米", 73, 20),
    ("5005", "Sesame oil 250 ml / 香油", 0, 10),
    ("5006", "Mooncake gift box / 月饼礼盒", 210, 40),
    ("5007", "Red dates 500 g / 红枣", 19, 20),
    ("5008", "Goji berries 250 g / 枸杞", 52, 15),
];

/// Adds the sample items, but only to a database with no items at all;
/// says whether it did.
pub async fn fill(store: &dyn Store, engine: &Engine) -> anyhow::Result<bool> {
    let existing = store
        .list_items(&ItemFilter::default(), Page { number: 1, size: 1 })
        .await?;
    if existing.total > 0 {
        tracing::info!(
            items = existing.total,
            "--demo adds nothing: the database already has items"
        );
        return Ok(false);
    }
    for (id, name, stock, min_stock) in SAMPLES {
        let id = ItemId::parse(id).expect("sample ids are valid");
        create(engine, id, name, *stock, *min_stock)
            .await
            .context("adding sample items")?;
    }
    println!("Added {} sample items (--demo).", SAMPLES.len());
    Ok(true)
}

/// An active sample item with its opening stock at the default location.
async fn create(
    engine: &Engine,
    id: ItemId,
    name: &str,
    opening_stock: i64,
    min_stock: i64,
) -> anyhow::Result<()> {
    let item = Item {
        id,
        name: name.to_owned(),
        status: ItemStatus::Active,
        min_stock: Some(min_stock),
        max_stock: None,
        allow_backorder: false,
    };
    let command = Command::CreateItem {
        item,
        location: LocationId::default_location(),
        opening_stock,
    };
    let meta = WriteMeta {
        operator: "demo".into(),
        trace_id: None,
        idempotency: None,
    };
    match engine.submit(command, meta).await {
        Reply::Fresh(Ok(_)) => Ok(()),
        Reply::Fresh(Err(error)) => Err(anyhow::anyhow!("{error}")),
        Reply::Replayed { .. } => unreachable!("demo writes carry no idempotency key"),
    }
}

/// The mock supplier's products that the demo sells, each as an item of
/// its own linked to the product and asked about before an order.
const SUPPLIER_SAMPLES_MAX: usize = 3;
/// Their low-stock line.
const SUPPLIER_SAMPLE_MIN_STOCK: i64 = 5;

/// Adds a few of the mock supplier's products as items (no stock of their
/// own), links them, and syncs their stock from the mock once.
pub async fn fill_supplier(
    store: &dyn Store,
    engine: &Engine,
    entry: &stock_jobs::SupplierEntry,
    products: &[stock_supplier::protocol::ProductData],
) -> anyhow::Result<()> {
    for product in products.iter().take(SUPPLIER_SAMPLES_MAX) {
        let id =
            ItemId::parse(&product.product_code).context("a mock product code as an item id")?;
        create(
            engine,
            id.clone(),
            &product.product_name,
            0,
            SUPPLIER_SAMPLE_MIN_STOCK,
        )
        .await
        .context("adding a supplier sample item")?;
        store
            .put_supplier_link(&id, entry.api.name(), &product.product_code, true)
            .await?;
    }
    let request = stock_jobs::supplier_sync::SyncRequest {
        county_code: entry.sync.county_code.clone(),
        concurrency: entry.sync.concurrency,
        ..Default::default()
    };
    let summary = stock_jobs::supplier_sync::sync_supplier(
        engine,
        store,
        entry,
        &request,
        "demo",
        &stock_jobs::supplier_sync::Quiet,
    )
    .await
    .context("syncing the demo's supplier items")?;
    println!(
        "Linked {} items to the mock supplier and synced them ({} updated).",
        products.len().min(SUPPLIER_SAMPLES_MAX),
        summary.updated
    );
    entry.record_sync(summary);
    Ok(())
}
