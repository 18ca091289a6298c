//! The seed data and the demo's examples.

use caunoi::app::App;
use serde_json::json;

use caunoi::domain::ProvinceCode;
use caunoi::domain::Role;
use caunoi::server::identity::Identity;

use crate::helpers::{TestPki, config, fresh_store};

fn dashboard() -> Identity {
    Identity::local(ProvinceCode::parse("19").unwrap(), Role::Dashboard)
}

#[tokio::test]
async fn the_seeded_province_answers_every_demo_example() {
    let dir = tempfile::tempdir().unwrap();
    TestPki::create(dir.path(), "19");
    let (store, _) = fresh_store(dir.path()).await;
    let report = caunoi::seed::seed(&store).await.unwrap();
    assert!(report.facilities >= 200, "{report}");
    // One certificate per facility, plus the renewals.
    assert!(
        report.certificates > report.facilities,
        "nothing was renewed: {report}"
    );
    let app = App::with_store(&config(dir.path()), store.clone()).unwrap();
    assert!(
        caunoi::demo::show(&app).await.unwrap(),
        "a demo answer was wrong"
    );

    // Every certificate status is represented, and the specialties are there.
    for status in ["ACTIVE", "EXPIRED", "SUSPENDED", "REVOKED"] {
        let query = format!(
            "{{ certificates(filter: {{ status: {status} }}, first: 1) {{ edges {{ cursor }} }} }}"
        );
        let answer = serde_json::to_value(app.execute(&dashboard(), query.as_str()).await).unwrap();
        assert_eq!(
            answer["data"]["certificates"]["edges"]
                .as_array()
                .unwrap()
                .len(),
            1,
            "{status}"
        );
    }
    let tea = serde_json::to_value(
        app.execute(
            &dashboard(),
            async_graphql::Request::new(
                "query($t: String!) { products(filter: { text: $t }) { edges { node { name } } } }",
            )
            .variables(async_graphql::Variables::from_json(
                json!({ "t": "tan cuong" }),
            )),
        )
        .await,
    )
    .unwrap();
    assert_eq!(
        tea["data"]["products"]["edges"][0]["node"]["name"],
        "Chè Tân Cương"
    );

    // A second run finds the data and leaves it alone.
    let again = caunoi::seed::seed(&store).await.unwrap();
    assert!(again.skipped);
}
