//! Nothing is lost when the gateway that owes notices dies: Thái Nguyên's
//! `caunoi serve`, its own process, is killed at random instants while its
//! deliverer sends, started again, and every notice reaches Nghệ An's
//! gateway, stored once.

use std::time::Duration;

use caunoi::domain::{
    AlertData, AlertStatus, AlertStatusChange, Classification, Hazard, HazardCategory,
    NotificationBasis, ProvinceCode, RiskDecision,
};
use caunoi::store::{NoticeFilter, PageRequest, Store};

use crate::helpers::{TestGateway, TestPki, bind, fresh_store_of, start};

fn province(code: &str) -> ProvinceCode {
    ProvinceCode::parse(code).unwrap()
}

/// Raises and notifies `count` alerts of Thái Nguyên that concern Nghệ An,
/// as another process of Thái Nguyên would: each owes Nghệ An a notice.
async fn notify(store: &Store, count: usize) {
    for n in 0..count {
        let data = AlertData {
            classification: Classification::Alert,
            risk: RiskDecision::Serious,
            basis: NotificationBasis::OfficialControl,
            subject: format!("Dư lượng chlorpyrifos trên chè, mẫu số {n}"),
            description: "Mẫu lấy tại chợ vượt giới hạn tối đa.".to_owned(),
            hazards: vec![
                Hazard::new(
                    HazardCategory::PesticideResidue,
                    "Chlorpyrifos",
                    None,
                    None,
                    None,
                )
                .unwrap(),
            ],
            measures: Vec::new(),
            products: Vec::new(),
            facilities: Vec::new(),
            lots: vec![format!("TN-{n}")],
            provinces: vec![province("19"), province("40")],
        };
        let draft = store.raise_alert(data).await.unwrap();
        let notify = AlertStatusChange {
            to: AlertStatus::Notified,
            reason: None,
        };
        store
            .change_alert_status(draft.id, draft.version, notify, &[], &Default::default())
            .await
            .unwrap();
    }
}

/// How many notices Nghệ An holds, read a page at a time.
async fn received(nghe_an: &TestGateway) -> usize {
    let (mut count, mut after) = (0, None);
    loop {
        let request = PageRequest { after, first: 100 };
        let page = nghe_an
            .app
            .store()
            .notices(&NoticeFilter::default(), request)
            .await
            .unwrap();
        count += page.items.len();
        after = page.items.last().map(|(row, _)| *row);
        if !page.has_next {
            return count;
        }
    }
}

/// `caunoi serve` for Thái Nguyên, configured by `config`.
fn serve(config: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_caunoi"))
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the caunoi binary starts")
}

#[tokio::test]
async fn a_gateway_killed_while_delivering_sends_every_notice_after_restart() {
    let (dir_19, dir_40) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    TestPki::create(dir_19.path(), "19");
    let pki_40 = TestPki::create(dir_40.path(), "40");
    let ca_19 = dir_19.path().join("pki").join(caunoi::pki::CA_CERT);
    let nghe_an = start("40", dir_40, pki_40, bind(), |config| {
        config.partners = vec![caunoi::config::Partner {
            province: "19".to_owned(),
            name: None,
            ca: ca_19,
            endpoint: None,
            sync_every: None,
        }];
    })
    .await;
    let (thai_nguyen, url) = fresh_store_of(dir_19.path(), "19").await;
    // A short partner timeout: a dead deliverer's claims lapse in 4 s.
    let config = dir_19.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {state:?}\ndatabase_url = {url:?}\nlisten = \"127.0.0.1:0\"\n\
             ops_listen = \"127.0.0.1:0\"\n[province]\ncode = \"19\"\n\
             [federation]\ntimeout = \"1s\"\n\
             [[partners]]\nprovince = \"40\"\nca = {ca:?}\nendpoint = {endpoint:?}\n",
            state = dir_19.path(),
            ca = nghe_an.pki_dir().join(caunoi::pki::CA_CERT),
            endpoint = nghe_an.url(),
        ),
    )
    .unwrap();

    // Each run dies at a random instant of its first second and a half,
    // with notices owed: before the first is sent, while some are on their
    // way, after all are. More are owed after every death.
    let mut owed = 0;
    let mut deaths_with_work_left = 0;
    for _ in 0..8 {
        notify(&thai_nguyen, 40).await;
        owed += 40;
        let mut child = serve(&config);
        let instant = Duration::from_millis(fastrand::u64(0..=1500));
        let ended = tokio::time::timeout(instant, child.wait()).await;
        assert!(ended.is_err(), "the gateway stopped by itself: {ended:?}");
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        if received(&nghe_an).await < owed {
            deaths_with_work_left += 1;
        }
    }
    assert!(
        deaths_with_work_left > 0,
        "every run had delivered all before it died: no death fell mid-delivery"
    );

    // Started once more and left alone, it delivers the rest.
    let _child = serve(&config);
    let mut told = nghe_an.app.store().events_watch();
    let all_in = async {
        while received(&nghe_an).await < owed {
            told.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all_in)
        .await
        .expect("every notice arrives within a minute of the last start");
    // Each stored once, and each recorded delivered where it was owed.
    assert_eq!(received(&nghe_an).await, owed);
    // The outbox is another process's to update, which tells this one
    // nothing: it is read again, at most for thirty seconds, until the last
    // answers are recorded (a dead run's claims lapse, the entries are sent
    // again, and Nghệ An stores nothing twice).
    let mut pending = true;
    for _ in 0..300 {
        let (mut alerts, mut undelivered, mut after) = (0, 0, None);
        loop {
            let request = PageRequest { after, first: 100 };
            let page = thai_nguyen
                .alerts(&Default::default(), request)
                .await
                .unwrap();
            for alert in &page.items {
                let deliveries = thai_nguyen.deliveries(alert.id).await.unwrap();
                assert_eq!(deliveries.len(), 1, "one notice owed per alert");
                undelivered += usize::from(deliveries[0].delivered_at.is_none());
            }
            alerts += page.items.len();
            after = page.items.last().map(|alert| alert.id.local);
            if !page.has_next {
                break;
            }
        }
        assert_eq!(alerts, owed);
        if undelivered == 0 {
            pending = false;
            break;
        }
        thai_nguyen.notices_owed(Duration::from_millis(100)).await;
    }
    assert!(!pending, "some notices stayed undelivered in the outbox");
}
