//! The sample catalogue, and stock per region as a stable function of the
//! product and the region.

use stock_supplier::protocol::ProductData;

/// One region in this many has none of a product, as regional warehouses
/// really run dry.
const OUT_OF_STOCK_ONE_IN: u64 = 5;

pub(crate) struct SampleProduct {
    pub(crate) code: &'static str,
    pub(crate) name: &'static str,
    pub(crate) category: &'static str,
    pub(crate) brand: &'static str,
    model: &'static str,
    /// The most any region has; a region's figure lies between 0 and this.
    pub(crate) stock_base: u32,
    pub(crate) price_yuan: u32,
}

/// Arguments in the order of the table below, which reads better as rows.
pub(crate) const fn sample(
    code: &'static str,
    name: &'static str,
    category: &'static str,
    brand: &'static str,
    model: &'static str,
    stock_base: u32,
    price_yuan: u32,
) -> SampleProduct {
    SampleProduct {
        code,
        name,
        category,
        brand,
        model,
        stock_base,
        price_yuan,
    }
}

#[rustfmt::skip]
pub(crate) const CATALOGUE: [SampleProduct; 24] = [
    sample("GA0SZC00U", "海尔470升十字对开门风冷无霜变频冰箱", "冰箱", "海尔", "BCD-470WGHTDE9S9U1", 320, 3299),
    sample("GA0SZB00K", "海尔216升三门风冷无霜冰箱", "冰箱", "海尔", "BCD-216WMPT", 180, 1699),
    sample("GA0SY900J", "海尔601升嵌入式对开门冰箱", "冰箱", "海尔", "BCD-601WGHSS9N", 90, 5499),
    sample("GC0A1T00P", "卡萨帝650升原石系列对开门冰箱", "冰箱", "卡萨帝", "BCD-650WDCAU1", 45, 12999),
    sample("GC0B2T00Q", "卡萨帝520升揽光系列法式多门冰箱", "冰箱", "卡萨帝", "BCD-520WLCFDM4", 25, 15999),
    sample("GT0F5R00M", "统帅178升双门冰箱", "冰箱", "统帅", "BCD-178LTMPA", 0, 1099),
    sample("CEAB7T00A", "海尔10公斤滚筒洗衣机 精华洗", "洗衣机", "海尔", "EG100MATE28S", 500, 2199),
    sample("CEAB8J00B", "海尔10公斤直驱变频波轮洗衣机", "洗衣机", "海尔", "EB100B30Pro1", 260, 1599),
    sample("CEAH2N00E", "海尔10公斤洗烘一体滚筒洗衣机", "洗衣机", "海尔", "EG100HPLUS5", 120, 3499),
    sample("CEAC1K00C", "卡萨帝10公斤中子滚筒洗衣机", "洗衣机", "卡萨帝", "C1 HD10P3U1", 30, 8999),
    sample("CEAT3M00D", "统帅10公斤变频滚筒洗衣机", "洗衣机", "统帅", "@G1012B176", 150, 1399),
    sample("CEAT4P00F", "统帅8公斤全自动波轮洗衣机", "洗衣机", "统帅", "TQB80-@1", 60, 699),
    sample("AA0H1Q00G", "海尔1.5匹新一级能效变频挂式空调", "空调", "海尔", "KFR-35GW/B1KBB81U1", 400, 2699),
    sample("AA0H2R00H", "海尔3匹新一级能效变频立柜式空调", "空调", "海尔", "KFR-72LW/28LBA81U1", 75, 6999),
    sample("AA0H5U00L", "海尔2匹新一级能效变频立式空调", "空调", "海尔", "KFR-50LW/81@U1", 140, 4999),
    sample("AA0C3S00J", "卡萨帝1.5匹天玺系列变频挂式空调", "空调", "卡萨帝", "CAS358GAA(81)U1", 20, 7999),
    sample("AA0T4T00K", "统帅1匹变频挂式空调", "空调", "统帅", "KFR-26GW/02KBB83TU1", 210, 1799),
    sample("AA0T6V00M", "统帅1.5匹变频挂式空调", "空调", "统帅", "KFR-35GW/15DEC83TU1", 95, 2099),
    sample("GD0H1W00N", "海尔60升一级能效电热水器", "热水器", "海尔", "EC6001-MC3", 350, 1299),
    sample("GD0H2X00P", "海尔13升零冷水燃气热水器", "热水器", "海尔", "JSQ25-13WN5S", 160, 2599),
    sample("GD0H5A00S", "海尔80升速热电热水器", "热水器", "海尔", "ES80H-GD5(1)", 5, 1899),
    sample("GD0C3Y00Q", "卡萨帝60升晶彩系列电热水器", "热水器", "卡萨帝", "CEH-60V5U1", 40, 4999),
    sample("GD0T4Z00R", "统帅50升电热水器", "热水器", "统帅", "LEC5001-20X1", 230, 899),
    sample("GD0T6B00T", "统帅12升恒温燃气热水器", "热水器", "统帅", "JSQ24-12U1", 0, 1199),
];

pub(crate) fn find_sample(product_code: &str) -> Option<&'static SampleProduct> {
    CATALOGUE
        .iter()
        .find(|product| product.code == product_code)
}

pub(crate) fn product_data(product: &SampleProduct) -> ProductData {
    ProductData {
        product_code: product.code.to_owned(),
        product_name: product.name.to_owned(),
        category: Some(product.category.to_owned()),
        brand: Some(product.brand.to_owned()),
        model: Some(product.model.to_owned()),
    }
}

#[allow(
    clippy::manual_is_multiple_of,
    reason = "is_multiple_of needs Rust 1.87 and the workspace allows 1.85"
)]
pub(crate) fn sample_stock(product: &SampleProduct, county_code: &str) -> i64 {
    let hash = sample_hash(&[product.code, county_code]);
    if product.stock_base == 0 || hash % OUT_OF_STOCK_ONE_IN == 0 {
        return 0;
    }
    let stock = (hash >> 8) % (u64::from(product.stock_base) + 1);
    i64::try_from(stock).expect("a stock below a u32 fits an i64")
}

/// FNV-1a over the parts, each ended by a zero byte so that ("ab", "c") and
/// ("a", "bc") differ, then mixed (MurmurHash3's finaliser) so that every bit
/// depends on every input byte. Stable across runs and builds, unlike std's
/// hasher.
pub(crate) fn sample_hash(parts: &[&str]) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0100_0000_01b3;
    let mut hash = FNV_OFFSET;
    for byte in parts.iter().flat_map(|part| part.bytes().chain([0])) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}
