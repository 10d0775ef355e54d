//! The console's two languages: which one a request gets (the language
//! cookie, set by the switch at the top of every page, else what the
//! browser's `Accept-Language` prefers), and every label in English and
//! Simplified Chinese.

use axum::extract::Path;
use axum::http::header::{ACCEPT_LANGUAGE, LOCATION, SET_COOKIE};
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
    /// The language switch's choice (its cookie) when there is one, else
    /// the browser's, else English.
    pub(super) fn from_parts(parts: &Parts) -> Lang {
        match cookie(parts, LANG_COOKIE).as_deref() {
            Some("zh") => Lang::Zh,
            Some("en") => Lang::En,
            _ => parts
                .headers
                .get(ACCEPT_LANGUAGE)
                .and_then(|value| value.to_str().ok())
                .map_or(Lang::En, Lang::preferred),
        }
    }

    /// The first of the console's languages in an `Accept-Language` value,
    /// by quality (ties in the order given; `q=0` means "not this one"):
    /// any Chinese (`zh`, `zh-CN`, `zh-TW`, ...) is Simplified Chinese, any
    /// English is English, and a browser that asks for neither gets English.
    fn preferred(accept_language: &str) -> Lang {
        accept_language::parse_with_quality(accept_language)
            .into_iter()
            .filter(|(_, quality)| *quality > 0.0)
            .find_map(|(tag, _)| {
                let primary = tag.split('-').next().unwrap_or_default();
                if primary.eq_ignore_ascii_case("zh") {
                    Some(Lang::Zh)
                } else if primary.eq_ignore_ascii_case("en") {
                    Some(Lang::En)
                } else {
                    None
                }
            })
            .unwrap_or(Lang::En)
    }

    pub(super) fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }
}

/// Defines `Label`, one variant per label, each with its English and its
/// Chinese text: a label without both does not compile, and a label no page
/// uses is dead code (a warning, an error under clippy's `-D warnings`).
macro_rules! labels {
    ($($label:ident: $en:literal, $zh:literal;)+) => {
        /// Every label of the console.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) enum Label {
            $($label,)+
        }

        impl Label {
            /// Every label, for the tests.
            #[cfg(test)]
            const ALL: &[Label] = &[$(Label::$label,)+];

            /// The label's text in `lang`.
            pub(super) fn text(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $(
                        (Label::$label, Lang::En) => $en,
                        (Label::$label, Lang::Zh) => $zh,
                    )+
                }
            }
        }
    };
}

labels! {
    Title: "stockd admin", "stockd 管理后台";
    SignIn: "Sign in", "登录";
    SignOut: "Sign out", "退出";
    AdminKey: "Admin API key", "管理员 API Key";
    BadKey: "That is not a live admin key, nor a user with that password.", "该 Key 不是有效的管理员 Key，或用户名与密码不对。";
    OrUser: "or", "或";
    User: "User", "用户名";
    Password: "Password", "密码";
    AllStatuses: "all statuses", "全部状态";
    OnlyLow: "low stock only", "仅低库存";
    OnlyOut: "out of stock only", "仅缺货";
    Holds: "Holds", "预占";
    CheckDone: "Check", "检查";
    Fixed: "Fixed diff", "已修复差异";
    Closed: "Closed alert", "已处理预警";
    PaidDone: "paid", "已支付";
    CancelledDone: "cancelled", "已取消";
    ReleasedDone: "released", "已释放";
    Synced: "synced", "已同步";
    Skipped: "skipped", "跳过";
    Failed: "failed", "失败";
    Push: "push", "推送";
    Pull: "read through the API", "通过 API 读取";
    Saved: "saved", "已保存";
    LedgerRows: "ledger", "流水";
    Now: "now", "现在";
    Dashboard: "Dashboard", "概览";
    Items: "Items", "商品";
    Keys: "API keys", "API Key";
    ItemsTotal: "Items", "商品数";
    OnHand: "On hand", "账面库存";
    Reserved: "Reserved", "预占";
    Available: "Available", "可用";
    LowStock: "Low stock", "低库存";
    OutOfStock: "Out of stock", "缺货";
    OpenAlerts: "Open alerts", "未处理预警";
    PendingDiffs: "Pending diffs", "待修复差异";
    Search: "Search", "搜索";
    ProductId: "Product", "商品编号";
    Name: "Name", "名称";
    Status: "Status", "状态";
    Location: "Location", "仓库";
    Version: "Version", "版本";
    Previous: "Previous", "上一页";
    Next: "Next", "下一页";
    Page: "Page", "页";
    Levels: "Stock by location", "各仓库库存";
    Adjust: "Adjust stock", "调整库存";
    Delta: "Change (+ adds, − deducts)", "变化量（正数增加，负数扣减）";
    Reason: "Reason", "原因";
    Apply: "Apply", "提交";
    Ledger: "Ledger", "库存流水";
    Operation: "Operation", "操作";
    Change: "Change", "变化";
    After: "After", "变更后";
    Operator: "Operator", "操作人";
    Time: "Time", "时间";
    Written: "Written:", "已写入：";
    NewItem: "Create an item", "新建商品";
    OpeningStock: "Opening stock", "期初库存";
    MinStock: "Low-stock line (min_stock)", "预警线（min_stock）";
    MaxStock: "max_stock", "库存上限（max_stock）";
    Edit: "Edit details", "修改信息";
    Save: "Save", "保存";
    Count: "Set after a count", "盘点后设置库存";
    Counted: "Counted on hand", "盘点数量";
    CountedVersion: "Version counted against", "盘点时的版本";
    Transfer: "Transfer between locations", "仓库间调拨";
    From: "From", "调出";
    To: "To", "调入";
    Refused: "Refused", "被拒绝";
    NotFound: "Not found", "未找到";
    CreateKey: "Create a key", "创建 Key";
    Role: "Role", "角色";
    Create: "Create", "创建";
    ShownOnce: "The new key, shown this once. Keep it now:", "新 Key 只显示这一次，请立即保存：";
    Revoke: "Revoke", "吊销";
    Revoked: "revoked", "已吊销";
    Live: "live", "有效";
    Created: "Created", "创建时间";
    Language: "中文", "English";
    Health: "Cache health", "缓存健康";
    Activity: "Sold and held per hour, last 24 hours", "近 24 小时每小时售出与预占";
    Sold: "sold", "售出";
    Held: "held", "预占";
    Peak: "peak", "峰值";
    StockOverTime: "On hand over its recent changes", "近期变动中的账面库存";
    Channels: "Channels", "渠道";
    Channel: "Channel", "渠道";
    Mode: "Mode", "方式";
    Listing: "Listing", "渠道商品";
    Buffer: "Buffer", "安全库存";
    Published: "Published", "已发布";
    Sellable: "Sellable now", "当前可售";
    Differs: "Differs", "不一致";
    SyncNow: "Sync now", "立即同步";
    Suppliers: "Suppliers", "供应商";
    Supplier: "Supplier", "供应商";
    Circuit: "Circuit", "熔断状态";
    LinkedItems: "Linked items", "关联商品数";
    LastSync: "Last sync", "最近同步";
    Updated: "updated", "已更新";
    Unchanged: "unchanged", "未变化";
    CountyCode: "Region code", "区域编码";
    ProductCode: "Supplier's product code", "供应商商品编码";
    CheckBeforeOrder: "Ask before an order", "下单前向供应商查询";
    SupplierStock: "Supplier's figure", "供应商库存";
    LastSynced: "Synced at", "同步时间";
    LinkItem: "Link an item", "关联商品";
    Link: "Link a listing", "关联渠道商品";
    Yes: "yes", "是";
    No: "no", "否";
    Cache: "Redis cache", "Redis 缓存";
    NotConfigured: "not configured", "未配置";
    LastRun: "Last check", "最近检查";
    Checked: "checked", "已检查";
    DiffsFound: "diffs", "差异";
    AutoFixed: "auto-fixed", "自动修复";
    RunCheck: "Run a check now", "立即检查";
    UseDb: "Use the database", "以数据库为准";
    UseRedis: "Use Redis", "以 Redis 为准";
    DbStock: "Database", "数据库";
    RedisStock: "Redis", "Redis 中的值";
    Alerts: "Alerts", "预警";
    Ack: "Acknowledge", "确认";
    Ignore: "Ignore", "忽略";
    Type: "Type", "类型";
    Message: "Message", "内容";
    Orders: "Orders", "订单";
    Order: "Order", "订单";
    All: "All", "全部";
    Lines: "Lines", "明细";
    Hold: "Hold", "预占";
    Expires: "expires", "到期";
    Quantity: "Quantity", "数量";
    Pay: "Pay", "支付";
    Release: "Release", "释放";
    Cancel: "Cancel", "取消";
    CancelPaid: "Cancel and return the stock", "取消并退回库存";
    Simulate: "Simulate an order", "模拟下单";
    PlaceOrder: "Place the order", "下单";
    TooManyFailures: "Too many failed sign-ins: try again in {s} s.", "登录失败次数过多，请 {s} 秒后再试。";
    BadForm: "The form was stale or not from this console; nothing changed.", "表单已过期或来源不对，未做任何修改。";
}

/// A label's text in `lang`.
pub(super) fn t(lang: Lang, label: Label) -> &'static str {
    label.text(lang)
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

    /// Both texts of a label are there and differ: a label left untranslated
    /// (the English copied into the Chinese, or an empty text) fails here.
    #[test]
    fn every_label_has_two_different_texts() {
        assert!(Label::ALL.len() > 100, "{} labels", Label::ALL.len());
        for label in Label::ALL {
            let (en, zh) = (label.text(Lang::En), label.text(Lang::Zh));
            assert!(!en.trim().is_empty(), "{label:?} has no English text");
            assert!(!zh.trim().is_empty(), "{label:?} has no Chinese text");
            assert_ne!(en, zh, "{label:?} is the same in both");
            assert_eq!(en.contains("{s}"), zh.contains("{s}"), "{label:?}'s {{s}}");
        }
    }

    #[test]
    fn accept_language_picks_the_first_language_the_console_speaks() {
        let check = |header: &str, expect: Lang| {
            assert_eq!(Lang::preferred(header), expect, "{header:?}");
        };
        check("zh-CN,zh;q=0.9,en;q=0.8", Lang::Zh);
        check("en-US", Lang::En);
        check("en-US,en;q=0.9,zh-CN;q=0.8", Lang::En);
        check("fr-FR, zh-TW;q=0.5", Lang::Zh);
        check("zh-Hant-HK", Lang::Zh);
        check("ZH-cn", Lang::Zh);
        check("en;q=0.5, zh;q=0.8", Lang::Zh);
        check("zh;q=0, en;q=0.1", Lang::En);
        check("zh;q=0", Lang::En);
        check("de, fr;q=0.9", Lang::En);
        check("*", Lang::En);
        check("", Lang::En);
        check(";;,,q=", Lang::En);
    }
}
