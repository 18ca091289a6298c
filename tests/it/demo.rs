//! The seed data and the demo's examples.

use serde_json::json;

use caunoi::domain::ProvinceCode;
use caunoi::domain::Role;
use caunoi::server::identity::Identity;

use crate::helpers::spawn_pair;

fn dashboard() -> Identity {
    Identity::local(ProvinceCode::parse("19").unwrap(), Role::Dashboard)
}

#[tokio::test]
async fn the_seeded_provinces_answer_every_demo_example() {
    let (tn, na) = spawn_pair().await;
    let report = caunoi::seed::seed(tn.app.store()).await.unwrap();
    assert!(report.facilities >= 200, "{report}");
    // One certificate per facility, plus the renewals.
    assert!(
        report.certificates > report.facilities,
        "nothing was renewed: {report}"
    );
    caunoi::seed::seed(na.app.store()).await.unwrap();
    assert!(
        caunoi::demo::show(&tn.app, &na.app).await.unwrap(),
        "a demo answer was wrong (asked in 19)"
    );
    assert!(
        caunoi::demo::show(&na.app, &tn.app).await.unwrap(),
        "a demo answer was wrong (asked in 40)"
    );

    // Every certificate status is represented, and the specialties are there.
    for status in ["ACTIVE", "EXPIRED", "SUSPENDED", "REVOKED"] {
        let query = format!(
            "{{ certificates(filter: {{ status: {status} }}, scope: LOCAL, first: 1) {{ edges {{ cursor }} }} }}"
        );
        let answer =
            serde_json::to_value(tn.app.execute(&dashboard(), query.as_str()).await).unwrap();
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
        tn.app
            .execute(
                &dashboard(),
                async_graphql::Request::new(
                    "query($t: String!) { products(filter: { text: $t }, scope: LOCAL) { edges { node { name } } } }",
                )
                .variables(async_graphql::Variables::from_json(json!({ "t": "tan cuong" }))),
            )
            .await,
    )
    .unwrap();
    assert_eq!(
        tea["data"]["products"]["edges"][0]["node"]["name"],
        "Chè Tân Cương"
    );

    // A second run finds the data and leaves it alone.
    assert!(caunoi::seed::seed(tn.app.store()).await.unwrap().skipped);
}
