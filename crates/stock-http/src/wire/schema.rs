//! Schemas of the values the routes check, for the OpenAPI document: a value
//! that fits its schema is one the checks take, as far as a JSON Schema can
//! say it (the patterns are ECMA-262, as JSON Schema's are). Each names the
//! limit it documents, so that the two cannot drift apart.

use stock_core::{ItemStatus, Operation, OrderStatus, ID_LENGTH_MAX, LINES_MAX};
use stock_store::{AlertKind, AlertStatus, EventKind};
use utoipa::openapi::schema::{
    AnyOfBuilder, Array, ArrayBuilder, ObjectBuilder, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{KnownFormat, RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::routes::{
    NAME_LENGTH_MAX, QUERY_LENGTH_MAX, REASON_LENGTH_MAX, REFERENCE_LENGTH_MAX, URL_LENGTH_MAX,
};

/// Schema types: a unit struct per schema, for `value_type = …` to name.
macro_rules! schemas {
    ($($(#[$doc:meta])* $name:ident = $schema:expr;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl ToSchema for $name {}
    )*};
}

/// The characters of an id (`stock_core::ItemId`, `LocationId`).
pub const ID_PATTERN: &str = "^[A-Za-z0-9._:-]+$";

/// Free text as `routes::text` takes it: at least one character that is not
/// white space, and no control characters.
pub const TEXT_PATTERN: &str =
    "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F][^\\x00-\\x1F\\x7F-\\x9F]*$";

/// An `http://` or `https://` URL without white space in it (white space
/// around it is trimmed).
pub const URL_PATTERN: &str = "^\\s*https?://\\S+\\s*$";

fn id_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(ID_PATTERN))
        .min_length(Some(1))
        .max_length(Some(ID_LENGTH_MAX))
}

schemas! {
    /// An id: of an item, a location, a hold, an order, a channel or a listing.
    Id = {
        id_schema()
            .description(Some(format!(
                "Letters, digits and `- _ . :`, 1 to {ID_LENGTH_MAX} characters."
            )))
            .examples(["1001"])
            .into()
    };
}

/// A product id as a caller sends it (see `wire::ProductId`).
impl PartialSchema for super::ProductId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Integer]))
            .pattern(Some(ID_PATTERN))
            .min_length(Some(1))
            .max_length(Some(ID_LENGTH_MAX))
            .minimum(Some(i64::MIN))
            .maximum(Some(utoipa::Number::UInt(
                usize::try_from(u64::MAX).expect("a 64-bit target"),
            )))
            .description(Some(format!(
                "A string of letters, digits and `- _ . :`, 1 to {ID_LENGTH_MAX} characters, \
                 or an integer, which becomes its decimal string (`1001` is `\"1001\"`)."
            )))
            .examples(["1001"])
            .into()
    }
}

impl ToSchema for super::ProductId {}

/// 1 to `LINES_MAX` product ids, none twice (`BatchRequest`).
pub fn product_id_list() -> Array {
    ArrayBuilder::new()
        .items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "ProductId",
        )))
        .min_items(Some(1))
        .max_items(Some(LINES_MAX))
        .unique_items(true)
        .build()
}

/// Free text of at most `length_max` characters (see [`TEXT_PATTERN`]).
fn text_schema(length_max: usize) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(TEXT_PATTERN))
        .min_length(Some(1))
        .max_length(Some(length_max))
        .description(Some(format!(
            "Text of 1 to {length_max} characters, not all white space, without control characters."
        )))
        .into()
}

schemas! {
    /// The name of an item or a location.
    Name = text_schema(NAME_LENGTH_MAX);
    /// Why a change was made.
    Reason = text_schema(REASON_LENGTH_MAX);
    /// A caller's reference: an order id or a trace id on a change of stock.
    Reference = text_schema(REFERENCE_LENGTH_MAX);
    /// What a search looks for.
    SearchText = text_schema(QUERY_LENGTH_MAX);
}

/// One of a fixed set of names.
fn names_schema<'a>(names: impl IntoIterator<Item = &'a str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .into()
}

schemas! {
    /// An item's status.
    ItemStatusName = names_schema(ItemStatus::ALL.map(|status| status.as_str()));
    /// An order's status.
    OrderStatusName = names_schema(OrderStatus::ALL.map(|status| status.as_str()));
    /// A kind of ledger row.
    OperationName = names_schema(Operation::ALL.map(|operation| operation.as_str()));
    /// A kind of alert.
    AlertKindName = names_schema(AlertKind::ALL.map(|kind| kind.as_str()));
    /// An alert's status, or `open` (pending or sent).
    AlertStatusFilter = names_schema(
        AlertStatus::ALL.map(|status| status.as_str()).into_iter().chain(["open"]),
    );
    /// A kind of event.
    EventKindName = names_schema(EventKind::ALL.map(|kind| kind.as_str()));
    /// How a cache diff is repaired.
    FixTypeName = names_schema(crate::routes::FIX_TYPES);
}

schemas! {
    /// Kinds of events, comma-separated.
    EventKindList = {
        let kinds: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.as_str()).collect();
        let kind = format!("(?:{})", kinds.join("|"));
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(format!("^\\s*{kind}\\s*(?:,\\s*{kind}\\s*)*$")))
            .examples(["stock,alert"])
            .into()
    };
}

fn int64() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
}

schemas! {
    /// A page of a list, from 1.
    PageNumber = {
        int64()
            .minimum(Some(1))
            .maximum(Some(u32::MAX))
            .default(Some(1.into()))
            .description(Some("The page, from 1."))
            .into()
    };
}

schemas! {
    /// Rows on a page; the served document says the configured default and
    /// most (`openapi::Limits`).
    PageSize = {
        int64()
            .minimum(Some(1))
            .description(Some("Rows on a page."))
            .into()
    };
}

schemas! {
    /// A change of stock: negative to deduct, positive to add, never zero.
    Delta = {
        AnyOfBuilder::new()
            .item(int64().maximum(Some(-1)))
            .item(int64().minimum(Some(1)))
            .description(Some("Negative to deduct, positive to add; never zero."))
            .examples([-1])
            .into()
    };
}

schemas! {
    /// Where a webhook or a channel is reached.
    Url = {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(URL_PATTERN))
            .max_length(Some(URL_LENGTH_MAX))
            .description(Some(format!(
                "An http:// or https:// URL of at most {URL_LENGTH_MAX} characters."
            )))
            .examples(["https://shop.example/stockd"])
            .into()
    };
}

/// Text as the supplier routes take it: trimmed, then 1 to `length_max`
/// characters without control characters.
pub const TRIMMED_TEXT_PATTERN: &str = "^\\s*[^\\s\\x00-\\x1F\\x7F-\\x9F](?:[^\\x00-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F])?\\s*$";

schemas! {
    /// A supplier's code for a product or an order.
    Code = {
        let length_max = crate::routes::CODE_LENGTH_MAX;
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(TRIMMED_TEXT_PATTERN))
            .max_length(Some(length_max))
            .description(Some(format!(
                "A supplier's code: 1 to {length_max} characters, no control characters; \
                 white space around it is trimmed."
            )))
            .into()
    };
}

/// Supplier codes, comma-separated; white space around each is trimmed and
/// empty ones are left out. With `at_least_one`, one must be left.
fn code_list_schema(at_least_one: bool) -> RefOr<Schema> {
    // A code between commas: no commas or control characters in it.
    let code = "[^\\s,\\x00-\\x1F\\x7F-\\x9F](?:[^,\\x00-\\x1F\\x7F-\\x9F]*[^\\s,\\x00-\\x1F\\x7F-\\x9F])?";
    let piece = format!("\\s*(?:{code})?\\s*");
    let pattern = if at_least_one {
        format!("^(?:{piece},)*\\s*{code}\\s*(?:,{piece})*$")
    } else {
        format!("^{piece}(?:,{piece})*$")
    };
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(format!(
            "Supplier codes, comma-separated: at most {} codes of at most {} characters.",
            crate::routes::CODES_MAX,
            crate::routes::CODE_LENGTH_MAX
        )))
        .examples(["GA0SZC00U,GA0SZC01U"])
        .into()
}

schemas! {
    /// Supplier codes to filter by, comma-separated; none: no filter.
    CodeFilter = code_list_schema(false);
}

schemas! {
    /// Supplier codes, comma-separated; at least one.
    CodeList = code_list_schema(true);
}

schemas! {
    /// A 6-digit county code; white space around it is trimmed, and an empty one
    /// is as if absent.
    CountyCode = {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^\\s*(?:[0-9]{6}\\s*)?$"))
            .description(Some("The 6-digit administrative code, e.g. `110105`."))
            .examples(["110105"])
            .into()
    };
}

fn address_schema(length_max: usize) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(length_max))
        .into()
}

schemas! {
    /// A province, city or district.
    AddressPart = address_schema(crate::region_input::ADDRESS_PART_LENGTH_MAX);
}

schemas! {
    /// An address on one line.
    AddressLine = address_schema(crate::region_input::ADDRESS_LINE_LENGTH_MAX);
}
