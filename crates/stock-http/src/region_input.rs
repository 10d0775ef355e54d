//! A region as a caller gives it (a county code, or an address) and the
//! county code it comes to, through `stock_supplier::regions`.

use stock_supplier::regions::{is_county_code, RegionQuery, Regions};

use crate::error::ApiError;

/// The longest address part or line a caller may send.
pub const ADDRESS_PART_LENGTH_MAX: usize = 100;
pub const ADDRESS_LINE_LENGTH_MAX: usize = 300;

/// A region as a caller gives it: a county code, or an address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionInput {
    pub county_code: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    pub address: Option<String>,
}

/// A county code and how it was found: `given`, or the resolver's level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRegion {
    pub county_code: String,
    pub matched_level: &'static str,
    pub province: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
}

impl RegionInput {
    fn has_address(&self) -> bool {
        self.province.is_some()
            || self.city.is_some()
            || self.district.is_some()
            || self.address.is_some()
    }

    /// The county code: given, resolved from the address, or `None` when the
    /// caller said nothing. Bad or conflicting input is a 400.
    pub fn resolve(&self, default_code: &str) -> Result<Option<ResolvedRegion>, ApiError> {
        self.check()?;
        if let Some(code) = &self.county_code {
            return Ok(Some(ResolvedRegion {
                county_code: code.clone(),
                matched_level: "given",
                province: None,
                city: None,
                district: None,
            }));
        }
        let query = match (&self.address, self.has_address()) {
            (Some(line), _) => RegionQuery::Address(line.clone()),
            (None, true) => RegionQuery::Parts {
                province: self.province.clone(),
                city: self.city.clone(),
                district: self.district.clone(),
            },
            (None, false) => return Ok(None),
        };
        let found = Regions::builtin().resolve(&query, default_code);
        Ok(Some(ResolvedRegion {
            county_code: found.county_code,
            matched_level: found.matched_level.as_str(),
            province: found.province,
            city: found.city,
            district: found.district,
        }))
    }

    fn check(&self) -> Result<(), ApiError> {
        if let Some(code) = &self.county_code {
            if !is_county_code(code) {
                return Err(ApiError::field("county_code", "must be 6 digits"));
            }
            if self.has_address() {
                return Err(ApiError::field(
                    "county_code",
                    "comes instead of an address, not with one",
                ));
            }
        }
        if self.address.is_some()
            && (self.province.is_some() || self.city.is_some() || self.district.is_some())
        {
            return Err(ApiError::field(
                "address",
                "comes instead of province, city and district, not with them",
            ));
        }
        for (field, value) in [
            ("province", &self.province),
            ("city", &self.city),
            ("district", &self.district),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| v.chars().count() > ADDRESS_PART_LENGTH_MAX)
            {
                return Err(ApiError::field(
                    field,
                    format!("may be at most {ADDRESS_PART_LENGTH_MAX} characters"),
                ));
            }
        }
        if self
            .address
            .as_ref()
            .is_some_and(|v| v.chars().count() > ADDRESS_LINE_LENGTH_MAX)
        {
            return Err(ApiError::field(
                "address",
                format!("may be at most {ADDRESS_LINE_LENGTH_MAX} characters"),
            ));
        }
        Ok(())
    }
}
