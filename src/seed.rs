//! Realistic data for a province: facilities, certificates in every status, OCOP
//! products and inspections, with Vietnamese names.
//!
//! The data is generated from a fixed seed, so every run produces the same
//! province. It is written through the store like any operator's writes, so it
//! obeys every rule the API enforces. Names of people and businesses are
//! invented; places and products are real.

use std::fmt;

use chrono::{Days, NaiveDate};
use fastrand::Rng;

use crate::domain::{
    BusinessRegistrationNumber, CertificateKind, FacilityKind, Grade, IdNumber, InspectionResult,
    OcopRating, PhoneNumber, ProductCategory, ProvinceCode, Stars, StoredStatus, default_expiry,
    today,
};
use crate::domain::{
    CertificateData, FacilityData, InspectionData, ProductData, Renewal, StatusAction,
};
use crate::error::AppError;
use crate::store::{FacilityFilter, PageRequest, Store};

/// A product a province is known for, and where it comes from.
struct Specialty {
    name: &'static str,
    category: ProductCategory,
    commune: &'static str,
    district: &'static str,
    stars: Option<i64>,
}

/// What we know of a province to seed it.
struct ProvinceData {
    name: &'static str,
    authority: &'static str,
    /// (commune, district)
    communes: &'static [(&'static str, &'static str)],
    specialties: &'static [Specialty],
    /// The partner its facilities most often supply.
    partner: u8,
    facilities: usize,
}

const fn s(
    name: &'static str,
    category: ProductCategory,
    commune: &'static str,
    district: &'static str,
    stars: Option<i64>,
) -> Specialty {
    Specialty {
        name,
        category,
        commune,
        district,
        stars,
    }
}

use ProductCategory::{Agricultural, Aquatic, Forestry, Livestock, ProcessedFood};

const THAI_NGUYEN: ProvinceData = ProvinceData {
    name: "Thái Nguyên",
    authority: "Chi cục Quản lý chất lượng Nông Lâm sản và Thủy sản tỉnh Thái Nguyên",
    communes: &[
        ("Tân Cương", "Thành phố Thái Nguyên"),
        ("Phúc Xuân", "Thành phố Thái Nguyên"),
        ("Phúc Trìu", "Thành phố Thái Nguyên"),
        ("La Bằng", "Đại Từ"),
        ("Hoàng Nông", "Đại Từ"),
        ("Minh Lập", "Đồng Hỷ"),
        ("Hóa Thượng", "Đồng Hỷ"),
        ("Vô Tranh", "Phú Lương"),
        ("Yên Ninh", "Phú Lương"),
        ("Phượng Tiến", "Định Hóa"),
        ("Bảo Cường", "Định Hóa"),
        ("La Hiên", "Võ Nhai"),
        ("Tràng Xá", "Võ Nhai"),
        ("Úc Kỳ", "Phú Bình"),
        ("Thành Công", "Phổ Yên"),
    ],
    specialties: &[
        s(
            "Chè Tân Cương",
            Agricultural,
            "Tân Cương",
            "Thành phố Thái Nguyên",
            Some(5),
        ),
        s("Chè La Bằng", Agricultural, "La Bằng", "Đại Từ", Some(4)),
        s("Chè Trại Cài", Agricultural, "Minh Lập", "Đồng Hỷ", Some(3)),
        s(
            "Gạo Bao thai Định Hóa",
            Agricultural,
            "Bảo Cường",
            "Định Hóa",
            Some(3),
        ),
        s("Na Võ Nhai", Agricultural, "La Hiên", "Võ Nhai", Some(4)),
        s("Gà đồi Phú Bình", Livestock, "Úc Kỳ", "Phú Bình", Some(3)),
        s(
            "Bánh chưng Bờ Đậu",
            ProcessedFood,
            "Yên Ninh",
            "Phú Lương",
            Some(3),
        ),
        s(
            "Mật ong rừng Võ Nhai",
            Livestock,
            "Tràng Xá",
            "Võ Nhai",
            None,
        ),
        s(
            "Măng khô Định Hóa",
            Forestry,
            "Phượng Tiến",
            "Định Hóa",
            None,
        ),
        s("Cá trắm hồ Núi Cốc", Aquatic, "Hoàng Nông", "Đại Từ", None),
    ],
    partner: 40,
    facilities: 240,
};

const NGHE_AN: ProvinceData = ProvinceData {
    name: "Nghệ An",
    authority: "Chi cục Quản lý chất lượng Nông Lâm sản và Thủy sản tỉnh Nghệ An",
    communes: &[
        ("Minh Hợp", "Quỳ Hợp"),
        ("Châu Quang", "Quỳ Hợp"),
        ("Nghĩa Sơn", "Nghĩa Đàn"),
        ("Nghi Diên", "Nghi Lộc"),
        ("Thanh Mai", "Thanh Chương"),
        ("Thanh Hương", "Thanh Chương"),
        ("Kim Liên", "Nam Đàn"),
        ("Nam Giang", "Nam Đàn"),
        ("Diễn Vạn", "Diễn Châu"),
        ("Diễn Ngọc", "Diễn Châu"),
        ("Quỳnh Dị", "Quỳnh Lưu"),
        ("Nghi Thủy", "Cửa Lò"),
        ("Hùng Sơn", "Anh Sơn"),
        ("Môn Sơn", "Con Cuông"),
        ("Mường Lống", "Kỳ Sơn"),
    ],
    specialties: &[
        s("Cam Vinh", Agricultural, "Minh Hợp", "Quỳ Hợp", Some(4)),
        s(
            "Nhút Thanh Chương",
            ProcessedFood,
            "Thanh Mai",
            "Thanh Chương",
            Some(3),
        ),
        s(
            "Tương Nam Đàn",
            ProcessedFood,
            "Nam Giang",
            "Nam Đàn",
            Some(3),
        ),
        s(
            "Nước mắm Vạn Phần",
            ProcessedFood,
            "Diễn Vạn",
            "Diễn Châu",
            Some(4),
        ),
        s(
            "Chè xanh Hùng Sơn",
            Agricultural,
            "Hùng Sơn",
            "Anh Sơn",
            Some(3),
        ),
        s(
            "Mực một nắng Cửa Lò",
            Aquatic,
            "Nghi Thủy",
            "Cửa Lò",
            Some(4),
        ),
        s("Gừng Kỳ Sơn", Agricultural, "Mường Lống", "Kỳ Sơn", None),
        s(
            "Mật ong Con Cuông",
            Livestock,
            "Môn Sơn",
            "Con Cuông",
            Some(3),
        ),
        s(
            "Gà đồi Thanh Chương",
            Livestock,
            "Thanh Hương",
            "Thanh Chương",
            None,
        ),
        s("Măng le Con Cuông", Forestry, "Môn Sơn", "Con Cuông", None),
    ],
    partner: 19,
    facilities: 220,
};

/// The seed data set of `province`, if there is one.
fn data_of(province: ProvinceCode) -> Option<&'static ProvinceData> {
    match province.number() {
        19 => Some(&THAI_NGUYEN),
        40 => Some(&NGHE_AN),
        _ => None,
    }
}

/// Words that find the province's best-known specialty, for examples.
pub fn search_example(province: ProvinceCode) -> Option<&'static str> {
    match province.number() {
        19 => Some("che tan cuong"),
        40 => Some("nhut thanh chuong"),
        _ => None,
    }
}

/// The name of the province's first specialty product (cam Vinh for Nghệ
/// An), for examples.
pub fn flagship_product(province: ProvinceCode) -> Option<&'static str> {
    data_of(province).map(|d| d.specialties[0].name)
}

/// The name of a province that has a seed data set.
pub fn province_name(province: ProvinceCode) -> Option<&'static str> {
    data_of(province).map(|d| d.name)
}

const FAMILY: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương",
];
const MIDDLE: &[&str] = &["Văn", "Thị", "Đức", "Minh", "Thanh", "Hữu", "Ngọc", "Quang"];
const GIVEN: &[&str] = &[
    "An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Lan", "Linh", "Long",
    "Mai", "Nam", "Nga", "Phương", "Quân", "Sơn", "Thảo", "Trang", "Tuấn", "Yến",
];

/// What a seeding run did.
#[derive(Debug, Default)]
pub struct SeedReport {
    pub province: Option<ProvinceCode>,
    pub skipped: bool,
    pub facilities: usize,
    pub certificates: usize,
    pub products: usize,
    pub inspections: usize,
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let province = self.province.map(|p| p.to_string()).unwrap_or_default();
        if self.skipped {
            return write!(f, "Province {province} already has data; seeding skipped.");
        }
        write!(
            f,
            "Seeded province {province}: {} facilities, {} certificates, {} products, {} inspections.",
            self.facilities, self.certificates, self.products, self.inspections
        )
    }
}

/// Seeds the store's province, unless it already has facilities.
pub async fn seed(store: &Store) -> anyhow::Result<SeedReport> {
    let province = store.province();
    let data = data_of(province).ok_or_else(|| {
        anyhow::anyhow!("there is no seed data for province {province}; only 19 and 40 have some")
    })?;
    let mut report = SeedReport {
        province: Some(province),
        ..SeedReport::default()
    };
    let existing = store
        .facilities(
            &FacilityFilter::default(),
            PageRequest {
                after: None,
                first: 1,
            },
        )
        .await
        .map_err(app_error)?;
    if !existing.items.is_empty() {
        report.skipped = true;
        return Ok(report);
    }
    Seeder {
        store,
        data,
        province,
        rng: Rng::with_seed(u64::from(province.number() as u32) * 7919),
        today: today(),
        report: &mut report,
    }
    .run()
    .await
    .map_err(app_error)?;
    Ok(report)
}

fn app_error(error: AppError) -> anyhow::Error {
    anyhow::anyhow!("seeding failed: {error:?}")
}

struct Seeder<'a> {
    store: &'a Store,
    data: &'static ProvinceData,
    province: ProvinceCode,
    rng: Rng,
    today: NaiveDate,
    report: &'a mut SeedReport,
}

impl Seeder<'_> {
    async fn run(&mut self) -> Result<(), AppError> {
        let partner = ProvinceCode::from_number(self.data.partner.into())
            .expect("seed partners are valid codes");
        for index in 0..self.data.facilities {
            // The first facilities make each specialty; the rest are spread out.
            let specialty = &self.data.specialties[index % self.data.specialties.len()];
            let kind = self.facility_kind(index);
            // Producers work where their specialty comes from; traders anywhere.
            let (commune, district) = match kind {
                FacilityKind::Trader | FacilityKind::Slaughterhouse => {
                    *self.pick(self.data.communes)
                }
                _ => (specialty.commune, specialty.district),
            };
            let serial = index / self.data.specialties.len() + 1;
            let mut supplies_to = vec![self.province];
            if index % 3 != 2 {
                supplies_to.push(partner);
            }
            supplies_to.sort();
            let contact = format!(
                "{} {} {}",
                self.pick(FAMILY),
                self.pick(MIDDLE),
                self.pick(GIVEN)
            );
            let facility = self
                .store
                .create_facility(FacilityData {
                    name: facility_name(kind, specialty.name, commune, &contact, serial),
                    kind,
                    business_registration_number: (kind != FacilityKind::Household).then(|| {
                        BusinessRegistrationNumber::parse(&format!(
                            "{}{:08}",
                            self.province,
                            self.rng.u32(0..100_000_000)
                        ))
                        .expect("generated registration numbers are well formed")
                    }),
                    commune: commune.to_owned(),
                    district: Some(district.to_owned()),
                    address_detail: Some(format!("Xóm {}", self.rng.u32(1..20))),
                    contact_name: Some(contact),
                    contact_phone: Some(
                        PhoneNumber::parse(&format!("09{:08}", self.rng.u32(0..100_000_000)))
                            .expect("generated phone numbers are well formed"),
                    ),
                    contact_id_number: (kind == FacilityKind::Household).then(|| {
                        IdNumber::parse(&format!(
                            "0{}{:09}",
                            self.province,
                            self.rng.u32(0..1_000_000_000)
                        ))
                        .expect("generated identity numbers are well formed")
                    }),
                    supplies_to,
                })
                .await?;
            self.report.facilities += 1;
            self.certificates(facility.id, kind, index, specialty)
                .await?;
            self.product(facility.id, index, specialty).await?;
            self.inspections(facility.id, kind, index).await?;
        }
        Ok(())
    }

    fn facility_kind(&mut self, index: usize) -> FacilityKind {
        match index % 10 {
            0 | 1 => FacilityKind::Cooperative,
            2 | 3 => FacilityKind::PrimaryProducer,
            4 => FacilityKind::PreliminaryProcessor,
            5 | 6 => FacilityKind::Processor,
            7 => FacilityKind::Trader,
            8 => FacilityKind::Household,
            _ => {
                if self.rng.bool() {
                    FacilityKind::Slaughterhouse
                } else {
                    FacilityKind::Trader
                }
            }
        }
    }

    async fn certificates(
        &mut self,
        facility: crate::domain::GlobalId,
        kind: FacilityKind,
        index: usize,
        specialty: &Specialty,
    ) -> Result<(), AppError> {
        let certificate_kind = match (kind, index % 13) {
            (FacilityKind::Household, _) => CertificateKind::Commitment,
            (_, 6) => CertificateKind::Exemption,
            _ => CertificateKind::Eligibility,
        };
        // Issued between five years and a month ago, so some have expired.
        let issued_on = self.days_ago(30..1830);
        let expires_on = match certificate_kind {
            CertificateKind::Exemption => issued_on.checked_add_days(Days::new(365 * 3)),
            other => default_expiry(other, issued_on),
        };
        let standard = (certificate_kind == CertificateKind::Exemption).then(|| {
            *self.pick(&[
                crate::domain::Standard::Haccp,
                crate::domain::Standard::Iso22000,
            ])
        });
        let certificate = self
            .store
            .issue_certificate(CertificateData {
                kind: certificate_kind,
                standard,
                facility,
                scope: vec![specialty.name.to_owned()],
                issuing_authority: self.data.authority.to_owned(),
                issued_on,
                expires_on,
                grade: index.is_multiple_of(4).then_some(Grade::A),
            })
            .await?;
        self.report.certificates += 1;
        let since_issue = (self.today - issued_on).num_days().max(1) as u64;
        match index % 17 {
            3 | 9 => {
                let on = issued_on + Days::new(self.rng.u64(0..since_issue));
                self.store
                    .import_certificate_status(
                        certificate.id,
                        certificate.version,
                        StatusAction {
                            to: StoredStatus::Suspended,
                            effective_on: on,
                            reason: Some("Vi phạm điều kiện bảo quản; chờ khắc phục".to_owned()),
                        },
                    )
                    .await?;
            }
            5 => {
                let on = issued_on + Days::new(self.rng.u64(0..since_issue));
                self.store
                    .import_certificate_status(
                        certificate.id,
                        certificate.version,
                        StatusAction {
                            to: StoredStatus::Revoked,
                            effective_on: on,
                            reason: Some("Không duy trì điều kiện an toàn thực phẩm".to_owned()),
                        },
                    )
                    .await?;
            }
            11 if certificate.data.expires_on.is_some_and(|e| e < self.today) => {
                let expired = certificate.data.expires_on.unwrap_or(self.today);
                let renewed_on = std::cmp::min(expired, self.today);
                self.store
                    .renew_certificate(
                        certificate.id,
                        certificate.version,
                        Renewal {
                            issued_on: Some(renewed_on),
                            // An exemption runs as long as the standard's certificate.
                            expires_on: (certificate_kind == CertificateKind::Exemption)
                                .then(|| renewed_on + Days::new(365 * 3)),
                            ..Renewal::default()
                        },
                    )
                    .await?;
                self.report.certificates += 1;
            }
            _ => {}
        }
        Ok(())
    }

    async fn product(
        &mut self,
        facility: crate::domain::GlobalId,
        index: usize,
        specialty: &Specialty,
    ) -> Result<(), AppError> {
        let ocop = specialty.stars.filter(|_| index % 4 != 3).map(|stars| {
            // Some producers of a specialty rank a star lower than the best.
            let stars = if index >= self.data.specialties.len() && stars > 3 {
                stars - (index % 2) as i64
            } else {
                stars
            };
            OcopRating {
                stars: Stars::parse(stars).expect("seed stars are 1 to 5"),
                rated_on: self.days_ago(30..1400),
            }
        });
        let name = if index < self.data.specialties.len() {
            specialty.name.to_owned()
        } else {
            format!("{} loại {}", specialty.name, index % 3 + 1)
        };
        self.store
            .register_product(ProductData {
                name,
                category: specialty.category,
                facility,
                description: Some(format!(
                    "Sản phẩm của xã {}, {}, tỉnh {}",
                    specialty.commune, specialty.district, self.data.name
                )),
                ocop,
                specialty: index.is_multiple_of(2),
                key_product: index.is_multiple_of(5),
            })
            .await?;
        self.report.products += 1;
        Ok(())
    }

    async fn inspections(
        &mut self,
        facility: crate::domain::GlobalId,
        kind: FacilityKind,
        index: usize,
    ) -> Result<(), AppError> {
        let stage = kind.stage();
        for round in 0..(1 + index % 2) {
            let failed = (index + round) % 9 == 4;
            self.store
                .record_inspection(
                    InspectionData {
                        facility,
                        stage,
                        inspected_on: self.days_ago(1..700),
                        result: if failed {
                            InspectionResult::Fail
                        } else {
                            InspectionResult::Pass
                        },
                        findings: Some(if failed {
                            "Dư lượng thuốc bảo vệ thực vật vượt mức cho phép ở một mẫu".to_owned()
                        } else {
                            "Đạt yêu cầu về điều kiện bảo đảm an toàn thực phẩm".to_owned()
                        }),
                        internal_notes: failed
                            .then(|| "Tái kiểm tra sau 30 ngày; đã lấy mẫu lưu".to_owned()),
                    },
                    None,
                )
                .await?;
            self.report.inspections += 1;
        }
        Ok(())
    }

    /// A day a random number of days (within `range`) before today.
    fn days_ago(&mut self, range: std::ops::Range<u64>) -> NaiveDate {
        self.today - Days::new(self.rng.u64(range))
    }

    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.rng.usize(0..items.len())]
    }
}

/// A facility's name; `serial` tells apart facilities of one specialty.
fn facility_name(
    kind: FacilityKind,
    specialty: &str,
    commune: &str,
    contact: &str,
    serial: usize,
) -> String {
    let product = lowercase_first(specialty);
    let place = if specialty.contains(commune) {
        String::new()
    } else {
        format!(" {commune}")
    };
    let number = if serial > 1 {
        format!(" số {serial}")
    } else {
        String::new()
    };
    match kind {
        FacilityKind::Cooperative => format!("Hợp tác xã {product}{place}{number}"),
        FacilityKind::PrimaryProducer => format!("Tổ hợp tác sản xuất {product}{place}{number}"),
        FacilityKind::PreliminaryProcessor => format!("Cơ sở sơ chế {product}{place}{number}"),
        FacilityKind::Processor => format!("Công ty TNHH chế biến {product}{place}{number}"),
        FacilityKind::Trader => format!("Cửa hàng đặc sản {commune}{number}"),
        FacilityKind::Household => format!("Hộ sản xuất {contact}"),
        FacilityKind::Slaughterhouse => format!("Cơ sở giết mổ tập trung {commune}{number}"),
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
