//! A province's public-key infrastructure: its certificate authority, the
//! gateway's certificate, and client certificates for internal users.
//!
//! Keys are ECDSA P-256. Every leaf names its holder in a SAN URI
//! (`urn:caunoi:19:dashboard`); the gateway's also carries its DNS names and IP
//! addresses and may act as server and client. Private keys are written readable by
//! their owner only. `caunoi pki …` and the tests use the same code; no key or
//! certificate is ever committed.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, RevokedCertParams, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::domain::{Principal, ProvinceCode, Role};

/// File names inside a PKI directory.
pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
pub const GATEWAY_CERT: &str = "gateway.pem";
pub const GATEWAY_KEY: &str = "gateway.key";

/// How long certificates live unless told otherwise.
const CA_DAYS: i64 = 10 * 365;
const LEAF_DAYS: i64 = 2 * 365;

/// A certificate authority able to sign leaves and CRLs.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    key_pem: String,
}

/// What a leaf certificate says.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    /// The SAN URI naming the holder, normally a [`Principal`].
    pub uri: String,
    pub common_name: String,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub server: bool,
    pub client: bool,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl LeafSpec {
    /// A client certificate valid from now for two years.
    pub fn client(principal: Principal, common_name: &str) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            uri: principal.to_string(),
            common_name: common_name.to_owned(),
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            server: false,
            client: true,
            not_before: now - Duration::minutes(5),
            not_after: now + Duration::days(LEAF_DAYS),
        }
    }

    /// A gateway certificate: server and client, for these hosts.
    pub fn gateway(province: ProvinceCode, hosts: &[String]) -> Self {
        let mut spec = Self::client(
            Principal::new(province, Role::Gateway),
            &format!("Cầu Nối gateway {province}"),
        );
        spec.server = true;
        for host in hosts {
            match host.parse::<IpAddr>() {
                Ok(ip) => spec.ip_addresses.push(ip),
                Err(_) => spec.dns_names.push(host.clone()),
            }
        }
        spec
    }
}

/// A signed leaf.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub serial: Vec<u8>,
}

impl Authority {
    /// A new CA for `province`.
    pub fn new(province: ProvinceCode) -> anyhow::Result<Self> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(
            DnType::CommonName,
            format!("Cầu Nối CA {province} {:08x}", fastrand::u32(..)),
        );
        params
            .distinguished_name
            .push(DnType::OrganizationName, format!("Province {province}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + Duration::days(CA_DAYS);
        params.serial_number = Some(serial());
        params.key_identifier_method = KeyIdMethod::Sha256;
        let cert = params.self_signed(&key)?;
        let key_pem = key.serialize_pem();
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA stored in `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let cert_pem = read(&dir.join(CA_CERT))?;
        let key_pem = read(&dir.join(CA_KEY))?;
        let key = KeyPair::from_pem(&key_pem).context("the CA key is not a PEM private key")?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)
            .context("the CA certificate cannot be read")?;
        Ok(Self {
            issuer,
            cert_pem,
            key_pem,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Signs a leaf as `spec` says.
    pub fn leaf(&self, spec: &LeafSpec) -> anyhow::Result<Leaf> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, spec.common_name.clone());
        params.subject_alt_names = vec![SanType::URI(spec.uri.clone().try_into()?)];
        for name in &spec.dns_names {
            params
                .subject_alt_names
                .push(SanType::DnsName(name.clone().try_into()?));
        }
        for ip in &spec.ip_addresses {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if spec.server {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        if spec.client {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth);
        }
        params.not_before = spec.not_before;
        params.not_after = spec.not_after;
        let serial = serial();
        params.serial_number = Some(serial.clone());
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial: serial.to_bytes(),
        })
    }

    /// A CRL revoking `serials`, valid from `this_update` to `next_update`.
    pub fn crl(
        &self,
        serials: &[Vec<u8>],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> anyhow::Result<String> {
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from_slice(
                &OffsetDateTime::now_utc().unix_timestamp().to_be_bytes(),
            ),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial),
                    revocation_time: this_update,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }

    /// Writes the CA's certificate and key into `dir`.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        write_public(&dir.join(CA_CERT), &self.cert_pem)?;
        write_private(&dir.join(CA_KEY), &self.key_pem)
    }
}

/// A positive random 16-byte serial number.
fn serial() -> SerialNumber {
    let mut bytes: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

/// `caunoi pki init`: a new CA and gateway certificate in `dir`, which must not
/// hold a CA yet.
pub fn init(dir: &Path, province: ProvinceCode, hosts: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    anyhow::ensure!(
        !dir.join(CA_KEY).exists(),
        "{} already holds a CA; refusing to replace it",
        dir.display()
    );
    create_dir(dir)?;
    let authority = Authority::new(province)?;
    authority.save(dir)?;
    let gateway = authority.leaf(&LeafSpec::gateway(province, hosts))?;
    write_public(&dir.join(GATEWAY_CERT), &gateway.cert_pem)?;
    write_private(&dir.join(GATEWAY_KEY), &gateway.key_pem)?;
    Ok([CA_CERT, CA_KEY, GATEWAY_CERT, GATEWAY_KEY]
        .iter()
        .map(|f| dir.join(f))
        .collect())
}

/// `caunoi pki issue`: a client certificate for an internal user, written as
/// `<name>.pem` and `<name>.key` in `dir`.
pub fn issue(
    dir: &Path,
    province: ProvinceCode,
    role: Role,
    name: &str,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    anyhow::ensure!(
        role != Role::Gateway,
        "the gateway's certificate comes from `caunoi pki init`"
    );
    anyhow::ensure!(
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "--name: letters, digits, - and _ only (it names the files)"
    );
    let authority = Authority::load(dir)?;
    let leaf = authority.leaf(&LeafSpec::client(Principal::new(province, role), name))?;
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    anyhow::ensure!(
        !cert.exists(),
        "{} exists; choose another --name",
        cert.display()
    );
    write_public(&cert, &leaf.cert_pem)?;
    write_private(&key, &leaf.key_pem)?;
    Ok((cert, key))
}

fn read(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

pub fn write_public(path: &Path, pem: &str) -> anyhow::Result<()> {
    fs::write(path, pem).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes a private key readable by its owner only.
pub fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(pem.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_owner_only_keys_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let province = ProvinceCode::parse("19").unwrap();
        init(
            dir.path(),
            province,
            &["localhost".to_owned(), "127.0.0.1".to_owned()],
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for key in [CA_KEY, GATEWAY_KEY] {
                let mode = fs::metadata(dir.path().join(key))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o077, 0, "{key} is readable by others");
            }
        }
        assert!(init(dir.path(), province, &[]).is_err());
        let (cert, _) = issue(dir.path(), province, Role::Dashboard, "bang-dieu-khien").unwrap();
        let pem = fs::read_to_string(cert).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(issue(dir.path(), province, Role::Gateway, "x").is_err());
        assert!(issue(dir.path(), province, Role::Sync, "../x").is_err());
    }
}
