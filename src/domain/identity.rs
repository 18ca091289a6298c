//! Who a certificate says its holder is: `urn:caunoi:<province>:<role>` in the
//! leaf's subject alternative names.

use std::fmt;

use super::{Invalid, ProvinceCode, coded_enum};

coded_enum! {
    /// What a certificate holder does.
    pub enum Role {
        /// A province's gateway: presented to partners when it asks them.
        Gateway => "gateway",
        /// An internal dashboard: reads everything its province owns.
        Dashboard => "dashboard",
        /// An officer's tool: reads and writes its province's records.
        Operator => "operator",
        /// A scheduled sync job: reads change feeds.
        Sync => "sync",
    }
}

/// The caller of a request, as policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A partner province's gateway.
    Partner(ProvinceCode),
    /// One of our own dashboards, operators or sync jobs.
    Internal(Role),
}

impl Caller {
    /// The caller's kind, as metrics label it.
    pub fn label(self) -> &'static str {
        match self {
            Caller::Partner(_) => "partner",
            Caller::Internal(role) => role.code(),
        }
    }
}

/// The identity a certificate claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Principal {
    pub province: ProvinceCode,
    pub role: Role,
}

impl Principal {
    pub const PREFIX: &'static str = "urn:caunoi:";

    pub fn new(province: ProvinceCode, role: Role) -> Self {
        Self { province, role }
    }

    /// Parses `urn:caunoi:19:dashboard`.
    pub fn parse(uri: &str) -> Result<Self, Invalid> {
        let malformed = || {
            Invalid::new(format!(
                "`{}` is not a Cầu Nối identity (expected urn:caunoi:<province>:<role>)",
                super::text::preview(uri)
            ))
        };
        let rest = uri.strip_prefix(Self::PREFIX).ok_or_else(malformed)?;
        let (province, role) = rest.split_once(':').ok_or_else(malformed)?;
        if province.len() != 2 {
            return Err(malformed());
        }
        let province = ProvinceCode::parse(province).map_err(|_| malformed())?;
        let role = Role::from_code(role).map_err(|_| {
            Invalid::new(format!(
                "`{}` is not a role of this exchange",
                super::text::preview(role)
            ))
        })?;
        Ok(Self { province, role })
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}:{}", Self::PREFIX, self.province, self.role.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn identities_name_province_and_role() {
        let p = Principal::parse("urn:caunoi:40:gateway").unwrap();
        assert_eq!(
            (p.province.to_string(), p.role),
            ("40".to_owned(), Role::Gateway)
        );
        assert_eq!(p.to_string(), "urn:caunoi:40:gateway");
        for bad in [
            "urn:caunoi:40",
            "urn:caunoi:4:gateway",
            "urn:caunoi:40:admin",
            "urn:other:40:gateway",
            "urn:caunoi:40:gateway:x",
            "",
        ] {
            assert!(Principal::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = Principal::parse(&s);
        }
    }
}
