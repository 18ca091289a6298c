//! Products and OCOP ratings.

use serde_json::{Value, json};

use crate::helpers::{assert_code, assert_invalid, day, spawn_gateway};

const REGISTER: &str = "mutation($i: RegisterProductInput!) {
    registerProduct(input: $i) { id version name category specialty keyProduct
      ocop { stars ratedOn year expiresOn valid } facility { name } } }";

#[tokio::test]
async fn a_product_carries_its_ocop_rating_for_thirty_six_months() {
    let gw = spawn_gateway().await;
    let f = gw
        .create_facility("Hợp tác xã chè Tân Cương", json!({}))
        .await;
    let product = gw
        .data(
            REGISTER,
            json!({ "i": { "name": "Chè Tân Cương", "category": "AGRICULTURAL", "facilityId": f["id"],
                           "specialty": true, "ocop": { "stars": 5, "ratedOn": "2024-02-29" } } }),
        )
        .await["registerProduct"]
        .clone();
    assert_eq!(product["facility"]["name"], "Hợp tác xã chè Tân Cương");
    assert_eq!(product["specialty"], true);
    assert_eq!(product["keyProduct"], false);
    assert_eq!(product["ocop"]["year"], 2024);
    assert_eq!(product["ocop"]["expiresOn"], "2027-02-28");
}

#[tokio::test]
async fn min_stars_lists_only_valid_ratings_of_enough_stars() {
    let gw = spawn_gateway().await;
    let f = gw.create_facility("Hợp tác xã", json!({})).await;
    let register = |name: &str, ocop: Value| json!({ "i": { "name": name, "category": "PROCESSED_FOOD", "facilityId": f["id"], "ocop": ocop } });
    gw.data(
        REGISTER,
        register(
            "Nhút Thanh Chương",
            json!({ "stars": 3, "ratedOn": day(-10) }),
        ),
    )
    .await;
    gw.data(
        REGISTER,
        register(
            "Nước mắm Vạn Phần",
            json!({ "stars": 4, "ratedOn": day(-10) }),
        ),
    )
    .await;
    gw.data(
        REGISTER,
        register(
            "Tương Nam Đàn",
            json!({ "stars": 5, "ratedOn": day(-1200) }),
        ),
    )
    .await;
    gw.data(REGISTER, register("Cam Vinh", Value::Null)).await;
    let query = "query($n: Int) { products(filter: { minStars: $n }) { edges { node { name } } } }";
    let names = |data: Value| -> Vec<String> {
        data["products"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(gw.data(query, json!({ "n": 3 })).await),
        ["Nhút Thanh Chương", "Nước mắm Vạn Phần"]
    );
    assert_eq!(
        names(gw.data(query, json!({ "n": 4 })).await),
        ["Nước mắm Vạn Phần"]
    );
    assert_eq!(names(gw.data(query, json!({ "n": null })).await).len(), 4);
    assert_invalid(&gw.post(query, json!({ "n": 6 })).await, "filter.minStars");
}

#[tokio::test]
async fn stars_outside_one_to_five_are_refused_and_nothing_is_stored() {
    let gw = spawn_gateway().await;
    let f = gw.create_facility("Hợp tác xã", json!({})).await;
    let before = gw.counts().await;
    for stars in [0, 6, -1] {
        let answer = gw
            .post(
                REGISTER,
                json!({ "i": { "name": "Cam Vinh", "category": "AGRICULTURAL", "facilityId": f["id"],
                               "ocop": { "stars": stars, "ratedOn": "2024-01-01" } } }),
            )
            .await;
        assert_invalid(&answer, "input.ocop.stars");
    }
    let future = gw
        .post(
            REGISTER,
            json!({ "i": { "name": "Cam Vinh", "category": "AGRICULTURAL", "facilityId": f["id"],
                           "ocop": { "stars": 4, "ratedOn": day(3) } } }),
        )
        .await;
    assert_invalid(&future, "input.ocop.ratedOn");
    assert_eq!(gw.counts().await, before);
}

#[tokio::test]
async fn a_product_update_changes_its_rating_and_checks_the_version() {
    let gw = spawn_gateway().await;
    let f = gw.create_facility("Hợp tác xã", json!({})).await;
    let product = gw
        .data(
            REGISTER,
            json!({ "i": { "name": "Cam Vinh", "category": "AGRICULTURAL", "facilityId": f["id"] } }),
        )
        .await["registerProduct"]
        .clone();
    let update = r#"mutation($id: ID!, $v: Int!, $i: UpdateProductInput!) {
        updateProduct(id: $id, version: $v, input: $i) { version name keyProduct ocop { stars } } }"#;
    let rated = gw
        .data(update, json!({ "id": product["id"], "v": 1, "i": { "keyProduct": true, "ocop": { "stars": 4, "ratedOn": day(-1) } } }))
        .await;
    assert_eq!(
        rated["updateProduct"],
        json!({ "version": 2, "name": "Cam Vinh", "keyProduct": true, "ocop": { "stars": 4 } })
    );
    let cleared = gw
        .data(
            update,
            json!({ "id": product["id"], "v": 2, "i": { "ocop": null } }),
        )
        .await;
    assert_eq!(cleared["updateProduct"]["ocop"], Value::Null);
    assert_code(
        &gw.post(
            update,
            json!({ "id": product["id"], "v": 2, "i": { "name": "X" } }),
        )
        .await,
        "CONFLICT",
    );
    assert_invalid(
        &gw.post(
            update,
            json!({ "id": product["id"], "v": 3, "i": { "facilityId": "Facility:19:99" } }),
        )
        .await,
        "input.facilityId",
    );
}

#[tokio::test]
async fn facilities_list_their_products_and_certificates() {
    let gw = spawn_gateway().await;
    let f = gw.create_facility("Hợp tác xã chè", json!({})).await;
    let g = gw.create_facility("Cơ sở khác", json!({})).await;
    for (facility, name) in [(&f, "Chè búp"), (&g, "Gạo"), (&f, "Chè móc câu")] {
        gw.data(
            REGISTER,
            json!({ "i": { "name": name, "category": "AGRICULTURAL", "facilityId": facility["id"] } }),
        )
        .await;
    }
    gw.issue_certificate(f["id"].as_str().unwrap(), json!({}))
        .await;
    let data = gw
        .data(
            "query($id: ID!) { facility(id: $id) {
               products { edges { node { name } } }
               certificates { edges { node { facility { name } } } } } }",
            json!({ "id": f["id"] }),
        )
        .await;
    assert_eq!(
        data["facility"],
        json!({
            "products": { "edges": [{ "node": { "name": "Chè búp" } }, { "node": { "name": "Chè móc câu" } }] },
            "certificates": { "edges": [{ "node": { "facility": { "name": "Hợp tác xã chè" } } }] },
        })
    );
}

#[tokio::test]
async fn a_product_is_found_by_its_id() {
    let gw = spawn_gateway().await;
    let f = gw.create_facility("Hợp tác xã", json!({})).await;
    let product = gw
        .data(
            REGISTER,
            json!({ "i": { "name": "Nhút Thanh Chương", "category": "PROCESSED_FOOD", "facilityId": f["id"] } }),
        )
        .await["registerProduct"]
        .clone();
    let found = gw
        .data(
            "query($id: ID!) { product(id: $id) { id name province { code } } }",
            json!({ "id": product["id"] }),
        )
        .await;
    assert_eq!(
        found["product"],
        json!({ "id": product["id"], "name": "Nhút Thanh Chương", "province": { "code": "19" } })
    );
    let wrong_kind = gw
        .post(
            "query($id: ID!) { product(id: $id) { id } }",
            json!({ "id": f["id"] }),
        )
        .await;
    assert_invalid(&wrong_kind, "id");
}
