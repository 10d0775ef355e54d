//! The console's two languages: which one a request gets (the language
//! cookie, set by the switch at the top of every page), and every label in
//! English and Simplified Chinese.

use axum::extract::Path;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::session::cookie;

const LANG_COOKIE: &str = "stockd_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    pub(super) fn from_parts(parts: &Parts) -> Lang {
        match cookie(parts, LANG_COOKIE).as_deref() {
            Some("zh") => Lang::Zh,
            _ => Lang::En,
        }
    }

    pub(super) fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }
}

/// Every label of the console, in both languages.
pub(super) fn t(lang: Lang, key: &str) -> &'static str {
    let (en, zh) = match key {
        "title" => ("stockd admin", "stockd 管理后台"),
        "sign_in" => ("Sign in", "登录"),
        "sign_out" => ("Sign out", "退出"),
        "admin_key" => ("Admin API key", "管理员 API Key"),
        "bad_key" => (
            "That is not a live admin key, nor a user with that password.",
            "该 Key 不是有效的管理员 Key，或用户名与密码不对。",
        ),
        "or_user" => ("or", "或"),
        "user" => ("User", "用户名"),
        "password" => ("Password", "密码"),
        "all_statuses" => ("all statuses", "全部状态"),
        "only_low" => ("low stock only", "仅低库存"),
        "only_out" => ("out of stock only", "仅缺货"),
        "filter" => ("Filter", "筛选"),
        "holds" => ("Holds", "预占"),
        "check_done" => ("Check", "检查"),
        "fixed" => ("Fixed diff", "已修复差异"),
        "closed" => ("Closed alert", "已处理预警"),
        "paid_done" => ("paid", "已支付"),
        "cancelled_done" => ("cancelled", "已取消"),
        "released_done" => ("released", "已释放"),
        "synced" => ("synced", "已同步"),
        "skipped" => ("skipped", "跳过"),
        "failed" => ("failed", "失败"),
        "push" => ("push", "推送"),
        "pull" => ("read through the API", "通过 API 读取"),
        "saved" => ("saved", "已保存"),
        "ledger_rows" => ("ledger", "流水"),
        "now" => ("now", "现在"),
        "dashboard" => ("Dashboard", "概览"),
        "items" => ("Items", "商品"),
        "keys" => ("API keys", "API Key"),
        "items_total" => ("Items", "商品数"),
        "on_hand" => ("On hand", "账面库存"),
        "reserved" => ("Reserved", "预占"),
        "available" => ("Available", "可用"),
        "low_stock" => ("Low stock", "低库存"),
        "out_of_stock" => ("Out of stock", "缺货"),
        "open_alerts" => ("Open alerts", "未处理预警"),
        "pending_diffs" => ("Pending diffs", "待修复差异"),
        "search" => ("Search", "搜索"),
        "product_id" => ("Product", "商品编号"),
        "name" => ("Name", "名称"),
        "status" => ("Status", "状态"),
        "location" => ("Location", "仓库"),
        "version" => ("Version", "版本"),
        "previous" => ("Previous", "上一页"),
        "next" => ("Next", "下一页"),
        "page" => ("Page", "页"),
        "levels" => ("Stock by location", "各仓库库存"),
        "adjust" => ("Adjust stock", "调整库存"),
        "delta" => ("Change (+ adds, − deducts)", "变化量（正数增加，负数扣减）"),
        "reason" => ("Reason", "原因"),
        "apply" => ("Apply", "提交"),
        "ledger" => ("Ledger", "库存流水"),
        "operation" => ("Operation", "操作"),
        "change" => ("Change", "变化"),
        "after" => ("After", "变更后"),
        "operator" => ("Operator", "操作人"),
        "time" => ("Time", "时间"),
        "written" => ("Written:", "已写入："),
        "new_item" => ("Create an item", "新建商品"),
        "opening_stock" => ("Opening stock", "期初库存"),
        "min_stock" => ("Low-stock line (min_stock)", "预警线（min_stock）"),
        "max_stock" => ("max_stock", "库存上限（max_stock）"),
        "edit" => ("Edit details", "修改信息"),
        "save" => ("Save", "保存"),
        "count" => ("Set after a count", "盘点后设置库存"),
        "counted" => ("Counted on hand", "盘点数量"),
        "counted_version" => ("Version counted against", "盘点时的版本"),
        "transfer" => ("Transfer between locations", "仓库间调拨"),
        "from" => ("From", "调出"),
        "to" => ("To", "调入"),
        "refused" => ("Refused", "被拒绝"),
        "not_found" => ("Not found", "未找到"),
        "create_key" => ("Create a key", "创建 Key"),
        "role" => ("Role", "角色"),
        "create" => ("Create", "创建"),
        "shown_once" => (
            "The new key, shown this once. Keep it now:",
            "新 Key 只显示这一次，请立即保存：",
        ),
        "revoke" => ("Revoke", "吊销"),
        "revoked" => ("revoked", "已吊销"),
        "live" => ("live", "有效"),
        "created" => ("Created", "创建时间"),
        "language" => ("中文", "English"),
        "health" => ("Cache health", "缓存健康"),
        "activity" => (
            "Sold and held per hour, last 24 hours",
            "近 24 小时每小时售出与预占",
        ),
        "sold" => ("sold", "售出"),
        "held" => ("held", "预占"),
        "peak" => ("peak", "峰值"),
        "stock_over_time" => ("On hand over its recent changes", "近期变动中的账面库存"),
        "channels" => ("Channels", "渠道"),
        "channel" => ("Channel", "渠道"),
        "mode" => ("Mode", "方式"),
        "listing" => ("Listing", "渠道商品"),
        "buffer" => ("Buffer", "安全库存"),
        "published" => ("Published", "已发布"),
        "sellable" => ("Sellable now", "当前可售"),
        "differs" => ("Differs", "不一致"),
        "sync_now" => ("Sync now", "立即同步"),
        "suppliers" => ("Suppliers", "供应商"),
        "supplier" => ("Supplier", "供应商"),
        "circuit" => ("Circuit", "熔断状态"),
        "linked_items" => ("Linked items", "关联商品数"),
        "last_sync" => ("Last sync", "最近同步"),
        "updated" => ("updated", "已更新"),
        "unchanged" => ("unchanged", "未变化"),
        "county_code" => ("Region code", "区域编码"),
        "product_code" => ("Supplier's product code", "供应商商品编码"),
        "check_before_order" => ("Ask before an order", "下单前向供应商查询"),
        "supplier_stock" => ("Supplier's figure", "供应商库存"),
        "last_synced" => ("Synced at", "同步时间"),
        "link_item" => ("Link an item", "关联商品"),
        "link" => ("Link a listing", "关联渠道商品"),
        "yes" => ("yes", "是"),
        "no" => ("no", "否"),
        "cache" => ("Redis cache", "Redis 缓存"),
        "not_configured" => ("not configured", "未配置"),
        "last_run" => ("Last check", "最近检查"),
        "checked" => ("checked", "已检查"),
        "diffs_found" => ("diffs", "差异"),
        "auto_fixed" => ("auto-fixed", "自动修复"),
        "run_check" => ("Run a check now", "立即检查"),
        "use_db" => ("Use the database", "以数据库为准"),
        "use_redis" => ("Use Redis", "以 Redis 为准"),
        "db_stock" => ("Database", "数据库"),
        "redis_stock" => ("Redis", "Redis 中的值"),
        "alerts" => ("Alerts", "预警"),
        "ack" => ("Acknowledge", "确认"),
        "ignore" => ("Ignore", "忽略"),
        "type" => ("Type", "类型"),
        "message" => ("Message", "内容"),
        "orders" => ("Orders", "订单"),
        "order" => ("Order", "订单"),
        "all" => ("All", "全部"),
        "lines" => ("Lines", "明细"),
        "hold" => ("Hold", "预占"),
        "expires" => ("expires", "到期"),
        "quantity" => ("Quantity", "数量"),
        "pay" => ("Pay", "支付"),
        "release" => ("Release", "释放"),
        "cancel" => ("Cancel", "取消"),
        "cancel_paid" => ("Cancel and return the stock", "取消并退回库存"),
        "simulate" => ("Simulate an order", "模拟下单"),
        "place_order" => ("Place the order", "下单"),
        "bad_form" => (
            "The form was stale or not from this console; nothing changed.",
            "表单已过期或来源不对，未做任何修改。",
        ),
        _ => ("?", "?"),
    };
    match lang {
        Lang::En => en,
        Lang::Zh => zh,
    }
}

/// The language switch: remembers the choice in a cookie.
pub(super) async fn set_lang(Path(lang): Path<String>) -> Response {
    let value = if lang == "zh" { "zh" } else { "en" };
    let cookie = format!("{LANG_COOKIE}={value}; Path=/admin; SameSite=Strict; Max-Age=31536000");
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, "/admin".to_owned()), (SET_COOKIE, cookie)],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every label a page asks for exists in both languages.
    #[test]
    fn every_label_is_translated() {
        let sources = [
            include_str!("item_pages.rs"),
            include_str!("key_pages.rs"),
            include_str!("layout.rs"),
            include_str!("session.rs"),
            include_str!("sign_in.rs"),
            include_str!("ops.rs"),
            include_str!("stock.rs"),
            include_str!("channel_pages.rs"),
            include_str!("supplier_pages.rs"),
            include_str!("live.rs"),
        ];
        let mut keys = Vec::new();
        for source in sources {
            for marker in ["t(lang, \"", "t(session.lang, \""] {
                for rest in source.split(marker).skip(1) {
                    if let Some(key) = rest.split('"').next() {
                        keys.push(key.to_owned());
                    }
                }
            }
        }
        assert!(keys.len() > 50, "found {} labels", keys.len());
        for key in &keys {
            for lang in [Lang::En, Lang::Zh] {
                assert_ne!(t(lang, key), "?", "{key:?} has no {lang:?} text");
            }
            assert_ne!(
                t(Lang::En, key),
                t(Lang::Zh, key),
                "{key:?} is the same in both"
            );
        }
    }
}
