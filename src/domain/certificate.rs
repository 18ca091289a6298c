//! Food-safety certificates and the rules that decide whether one is valid.

use std::fmt;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};

use super::{GlobalId, Invalid, ProvinceCode, Refusal, coded_enum, text::preview};

coded_enum! {
    /// What a certificate attests.
    pub enum CertificateKind {
        /// Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm: valid 3 years.
        Eligibility => "eligibility",
        /// Bản cam kết sản xuất thực phẩm an toàn, signed by small facilities that
        /// need no certificate.
        Commitment => "commitment",
        /// Exempt from the certificate by holding a recognised standard (HACCP,
        /// ISO 22000, …), which is named.
        Exemption => "exemption",
    }
}

impl CertificateKind {
    /// The kind's part of a certificate number.
    fn number_code(self) -> &'static str {
        match self {
            CertificateKind::Eligibility => "ATTP",
            CertificateKind::Commitment => "CK",
            CertificateKind::Exemption => "MT",
        }
    }
}

coded_enum! {
    /// Food-safety management standards whose holders are exempt from the
    /// eligibility certificate.
    pub enum Standard {
        #[graphql(name = "HACCP")]
        Haccp => "haccp",
        #[graphql(name = "ISO_22000")]
        Iso22000 => "iso_22000",
        #[graphql(name = "GMP")]
        Gmp => "gmp",
        #[graphql(name = "BRC")]
        Brc => "brc",
        #[graphql(name = "IFS")]
        Ifs => "ifs",
        #[graphql(name = "FSSC_22000")]
        Fssc22000 => "fssc_22000",
    }
}

coded_enum! {
    /// The optional A/B/C grade of Circular 38/2018; Circular 17/2024 grades pass
    /// or fail, so newer certificates carry none.
    pub enum Grade {
        A => "a",
        B => "b",
        C => "c",
    }
}

coded_enum! {
    /// The status an officer sets. Expiry is not stored: it follows from the date.
    pub enum StoredStatus {
        Active => "active",
        Suspended => "suspended",
        Revoked => "revoked",
    }
}

coded_enum! {
    /// A certificate's status today, as users see it.
    pub enum CertificateStatus {
        Active => "active",
        /// Past its expiry date while otherwise active.
        Expired => "expired",
        Suspended => "suspended",
        Revoked => "revoked",
    }
}

coded_enum! {
    /// Why a certificate was not valid on a given date.
    pub enum InvalidReason {
        /// No certificate has this number.
        Unknown => "unknown",
        /// The date is before the certificate was issued.
        NotYetIssued => "not_yet_issued",
        Expired => "expired",
        Suspended => "suspended",
        Revoked => "revoked",
    }
}

impl CertificateStatus {
    /// The status on `today` of a certificate with this stored status and expiry.
    pub fn derive(stored: StoredStatus, expires_on: Option<NaiveDate>, today: NaiveDate) -> Self {
        match stored {
            StoredStatus::Revoked => CertificateStatus::Revoked,
            StoredStatus::Suspended => CertificateStatus::Suspended,
            StoredStatus::Active if expires_on.is_some_and(|e| e < today) => {
                CertificateStatus::Expired
            }
            StoredStatus::Active => CertificateStatus::Active,
        }
    }
}

/// The default expiry of a newly issued certificate: eligibility certificates run
/// three years; commitments have none; an exemption lasts as long as the standard's
/// own certificate, which the officer must give.
pub fn default_expiry(kind: CertificateKind, issued_on: NaiveDate) -> Option<NaiveDate> {
    match kind {
        CertificateKind::Eligibility => issued_on.checked_add_months(Months::new(36)),
        CertificateKind::Commitment | CertificateKind::Exemption => None,
    }
}

/// One step of a certificate's status history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    pub status: StoredStatus,
    pub effective_on: NaiveDate,
}

/// Whether a certificate was valid on `day`, and if not, why. `history` is in the
/// order the changes were recorded (issue first); the last change effective on or
/// before `day` decides the status that day. The expiry date is the last valid day.
pub fn validity_on(
    issued_on: NaiveDate,
    expires_on: Option<NaiveDate>,
    history: &[StatusChange],
    day: NaiveDate,
) -> Result<(), InvalidReason> {
    if day < issued_on {
        return Err(InvalidReason::NotYetIssued);
    }
    let status = history
        .iter()
        .rev()
        .find(|change| change.effective_on <= day)
        .map_or(StoredStatus::Active, |change| change.status);
    match status {
        StoredStatus::Revoked => Err(InvalidReason::Revoked),
        StoredStatus::Suspended => Err(InvalidReason::Suspended),
        StoredStatus::Active if expires_on.is_some_and(|e| e < day) => Err(InvalidReason::Expired),
        StoredStatus::Active => Ok(()),
    }
}

/// A certificate number, `PP-KIND-YYYY-NNNNNN`: the owner province's code, the
/// kind (`ATTP` eligibility, `CK` commitment, `MT` exemption), the year of issue
/// and a serial. Example: `19-ATTP-2024-000042`. The owner is read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertificateNumber {
    pub province: ProvinceCode,
    pub kind: CertificateKind,
    pub year: i32,
    pub serial: u32,
}

impl CertificateNumber {
    pub fn new(province: ProvinceCode, kind: CertificateKind, year: i32, serial: u32) -> Self {
        Self {
            province,
            kind,
            year,
            serial,
        }
    }

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let malformed = || {
            Invalid::new(format!(
                "`{}` is not a certificate number (expected the form 19-ATTP-2024-000042)",
                preview(input)
            ))
        };
        let upper = input.trim().to_ascii_uppercase();
        let parts: Vec<&str> = upper.split('-').collect();
        let [province, kind, year, serial] = parts.as_slice() else {
            return Err(malformed());
        };
        if province.len() != 2 {
            return Err(malformed());
        }
        let province = ProvinceCode::parse(province).map_err(|_| malformed())?;
        let kind = CertificateKind::ALL
            .iter()
            .copied()
            .find(|k| k.number_code() == *kind)
            .ok_or_else(malformed)?;
        let digits = |s: &str, len: std::ops::RangeInclusive<usize>| {
            len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(year, 4..=4) || !digits(serial, 1..=6) {
            return Err(malformed());
        }
        let year: i32 = year.parse().map_err(|_| malformed())?;
        let serial: u32 = serial.parse().map_err(|_| malformed())?;
        if year < 1990 || serial == 0 {
            return Err(malformed());
        }
        Ok(Self::new(province, kind, year, serial))
    }

    /// The number a new certificate of `kind` issued on `issued_on` gets.
    pub fn issued(
        province: ProvinceCode,
        kind: CertificateKind,
        issued_on: NaiveDate,
        serial: u32,
    ) -> Self {
        Self::new(province, kind, issued_on.year(), serial)
    }
}

impl fmt::Display for CertificateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{:04}-{:06}",
            self.province,
            self.kind.number_code(),
            self.year,
            self.serial
        )
    }
}

/// What an officer writes when issuing a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateData {
    pub kind: CertificateKind,
    /// The recognised standard of an exemption; none for other kinds.
    pub standard: Option<Standard>,
    pub facility: GlobalId,
    /// Product groups covered.
    pub scope: Vec<String>,
    pub issuing_authority: String,
    pub issued_on: NaiveDate,
    /// The last valid day; `None` only for commitments.
    pub expires_on: Option<NaiveDate>,
    pub grade: Option<Grade>,
}

/// A stored certificate.
#[derive(Debug, Clone)]
pub struct CertificateRecord {
    pub id: GlobalId,
    pub version: i32,
    pub number: CertificateNumber,
    pub data: CertificateData,
    pub status: StoredStatus,
    pub status_reason: Option<String>,
    pub replaces: Option<GlobalId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CertificateRecord {
    /// The status today, expiry included.
    pub fn status_on(&self, day: NaiveDate) -> CertificateStatus {
        CertificateStatus::derive(self.status, self.data.expires_on, day)
    }
}

/// One entry of a certificate's status history.
#[derive(Debug, Clone)]
pub struct StatusChangeRecord {
    pub change: StatusChange,
    pub reason: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

/// A suspension, reinstatement or revocation.
#[derive(Debug, Clone)]
pub struct StatusAction {
    pub to: StoredStatus,
    pub effective_on: NaiveDate,
    pub reason: Option<String>,
}

/// What may change when a certificate is renewed; the rest is carried over.
#[derive(Debug, Clone, Default)]
pub struct Renewal {
    pub issued_on: Option<NaiveDate>,
    pub expires_on: Option<NaiveDate>,
    pub scope: Option<Vec<String>>,
    pub issuing_authority: Option<String>,
    pub grade: Option<Grade>,
}

impl CertificateData {
    /// The rules a certificate's data keeps, whoever writes it, on `today`.
    pub fn check(&self, today: NaiveDate) -> Result<(), Refusal> {
        match (self.kind, self.standard) {
            (CertificateKind::Exemption, None) => {
                return Err(Refusal::new(
                    "standard",
                    "an exemption names the recognised standard the facility holds",
                ));
            }
            (CertificateKind::Eligibility | CertificateKind::Commitment, Some(_)) => {
                return Err(Refusal::new(
                    "standard",
                    "only an exemption names a standard",
                ));
            }
            _ => {}
        }
        if self.issued_on > today {
            return Err(Refusal::new("issued_on", "must not be in the future"));
        }
        match self.expires_on {
            Some(expires) if expires < self.issued_on => {
                return Err(Refusal::new(
                    "expires_on",
                    format!("must not be before the issue date {}", self.issued_on),
                ));
            }
            None if self.kind != CertificateKind::Commitment => {
                return Err(Refusal::new(
                    "expires_on",
                    "an exemption lasts as long as the standard's certificate: give its expiry",
                ));
            }
            _ => {}
        }
        if self.scope.is_empty() {
            return Err(Refusal::new("scope", "name at least one product group"));
        }
        Ok(())
    }
}

impl Renewal {
    /// The data of the certificate that renews one holding `old`, on `today`:
    /// what the renewal gives, the rest carried over, the expiry defaulted
    /// for the kind.
    pub fn renew(self, old: CertificateData, today: NaiveDate) -> Result<CertificateData, Refusal> {
        let issued_on = self.issued_on.unwrap_or(today);
        if issued_on < old.issued_on {
            return Err(Refusal::new(
                "issued_on",
                format!("a renewal cannot be issued before {}", old.issued_on),
            ));
        }
        let data = CertificateData {
            issued_on,
            expires_on: self
                .expires_on
                .or_else(|| default_expiry(old.kind, issued_on)),
            scope: self.scope.unwrap_or(old.scope),
            issuing_authority: self.issuing_authority.unwrap_or(old.issuing_authority),
            grade: self.grade.or(old.grade),
            ..old
        };
        data.check(today)?;
        Ok(data)
    }
}

impl StatusAction {
    /// Whether a certificate whose last status change took effect on
    /// `last_change` may take this one on `today`.
    pub fn check(&self, last_change: NaiveDate, today: NaiveDate) -> Result<(), Refusal> {
        if self.effective_on < last_change {
            return Err(Refusal::new(
                "effective_on",
                format!("must not be before the last status change ({last_change})"),
            ));
        }
        if self.effective_on > today {
            return Err(Refusal::new("effective_on", "must not be in the future"));
        }
        Ok(())
    }
}

impl StoredStatus {
    /// Whether a certificate of this status may become `to`.
    pub fn may_become(self, to: StoredStatus) -> bool {
        match to {
            StoredStatus::Suspended => self == StoredStatus::Active,
            StoredStatus::Active => self == StoredStatus::Suspended,
            StoredStatus::Revoked => self != StoredStatus::Revoked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn eligibility(issued_on: NaiveDate) -> CertificateData {
        CertificateData {
            kind: CertificateKind::Eligibility,
            standard: None,
            facility: super::GlobalId::parse("Facility:19:1").unwrap(),
            scope: vec!["Chè".to_owned()],
            issuing_authority: "Chi cục".to_owned(),
            issued_on,
            expires_on: default_expiry(CertificateKind::Eligibility, issued_on),
            grade: None,
        }
    }

    #[test]
    fn rules_name_the_field_of_the_data_they_refuse() {
        let today = day(2026, 12, 5);
        let field = |data: &CertificateData| data.check(today).err().map(|r| r.field);
        assert_eq!(field(&eligibility(day(2024, 5, 1))), None);
        assert_eq!(field(&eligibility(day(2026, 12, 6))), Some("issued_on"));
        let mut exemption = eligibility(day(2024, 5, 1));
        exemption.kind = CertificateKind::Exemption;
        assert_eq!(field(&exemption), Some("standard"));
        let mut empty = eligibility(day(2024, 5, 1));
        empty.scope.clear();
        assert_eq!(field(&empty), Some("scope"));

        let old = eligibility(day(2024, 5, 1));
        let early = Renewal {
            issued_on: Some(day(2024, 4, 30)),
            ..Renewal::default()
        };
        assert_eq!(
            early.renew(old.clone(), today).unwrap_err().field,
            "issued_on"
        );
        let renewed = Renewal::default().renew(old.clone(), today).unwrap();
        assert_eq!(renewed.issued_on, today);
        assert_eq!(renewed.expires_on, default_expiry(old.kind, today));
        assert_eq!(renewed.scope, old.scope);

        let action = |on| StatusAction {
            to: StoredStatus::Suspended,
            effective_on: on,
            reason: None,
        };
        assert!(
            action(day(2026, 1, 1))
                .check(day(2025, 1, 1), today)
                .is_ok()
        );
        assert_eq!(
            action(day(2024, 1, 1))
                .check(day(2025, 1, 1), today)
                .unwrap_err()
                .field,
            "effective_on"
        );
        assert!(
            action(day(2027, 1, 1))
                .check(day(2025, 1, 1), today)
                .is_err()
        );
        assert!(StoredStatus::Active.may_become(StoredStatus::Suspended));
        assert!(!StoredStatus::Revoked.may_become(StoredStatus::Revoked));
        assert!(!StoredStatus::Active.may_become(StoredStatus::Active));
    }

    #[test]
    fn numbers_name_their_owner_province() {
        let number = CertificateNumber::parse("40-attp-2024-42").unwrap();
        assert_eq!(number.province.to_string(), "40");
        assert_eq!(number.kind, CertificateKind::Eligibility);
        assert_eq!(number.to_string(), "40-ATTP-2024-000042");
    }

    #[test]
    fn malformed_numbers_are_refused() {
        for bad in [
            "",
            "19-ATTP-2024",
            "19-XX-2024-1",
            "9-ATTP-2024-1",
            "19-ATTP-24-1",
            "19-ATTP-2024-0",
            "19-ATTP-2024-1234567",
            "19-ATTP-2024-1-2",
            "19-ATTP-1800-1",
        ] {
            assert!(
                CertificateNumber::parse(bad).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn eligibility_runs_three_years_and_commitments_do_not_expire() {
        assert_eq!(
            default_expiry(CertificateKind::Eligibility, day(2024, 4, 19)),
            Some(day(2027, 4, 19))
        );
        assert_eq!(
            default_expiry(CertificateKind::Commitment, day(2024, 4, 19)),
            None
        );
    }

    #[test]
    fn validity_follows_dates_and_history() {
        let issued = day(2024, 1, 10);
        let expires = Some(day(2027, 1, 10));
        let history = [
            StatusChange {
                status: StoredStatus::Active,
                effective_on: issued,
            },
            StatusChange {
                status: StoredStatus::Suspended,
                effective_on: day(2025, 3, 1),
            },
            StatusChange {
                status: StoredStatus::Active,
                effective_on: day(2025, 4, 1),
            },
            StatusChange {
                status: StoredStatus::Revoked,
                effective_on: day(2026, 6, 1),
            },
        ];
        let on = |d| validity_on(issued, expires, &history, d);
        assert_eq!(on(day(2024, 1, 9)), Err(InvalidReason::NotYetIssued));
        assert_eq!(on(day(2024, 1, 10)), Ok(()));
        assert_eq!(on(day(2025, 3, 15)), Err(InvalidReason::Suspended));
        assert_eq!(on(day(2025, 4, 1)), Ok(()));
        assert_eq!(on(day(2026, 6, 1)), Err(InvalidReason::Revoked));
        assert_eq!(
            validity_on(issued, expires, &history[..1], day(2027, 1, 10)),
            Ok(())
        );
        assert_eq!(
            validity_on(issued, expires, &history[..1], day(2027, 1, 11)),
            Err(InvalidReason::Expired)
        );
    }

    #[test]
    fn status_today_derives_expiry() {
        let today = day(2026, 11, 28);
        assert_eq!(
            CertificateStatus::derive(StoredStatus::Active, Some(day(2026, 11, 27)), today),
            CertificateStatus::Expired
        );
        assert_eq!(
            CertificateStatus::derive(StoredStatus::Active, None, today),
            CertificateStatus::Active
        );
        assert_eq!(
            CertificateStatus::derive(StoredStatus::Revoked, Some(day(2020, 1, 1)), today),
            CertificateStatus::Revoked
        );
    }

    proptest! {
        #[test]
        fn numbers_round_trip(
            province in 1u8..=99,
            kind in 0usize..3,
            year in 1990i32..=9999,
            serial in 1u32..=999_999,
        ) {
            let number = CertificateNumber::new(
                ProvinceCode::from_number(i64::from(province)).unwrap(),
                CertificateKind::ALL[kind],
                year,
                serial,
            );
            prop_assert_eq!(CertificateNumber::parse(&number.to_string()).unwrap(), number);
        }

        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = CertificateNumber::parse(&s);
        }
    }
}
