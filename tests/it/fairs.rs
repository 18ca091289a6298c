//! Trade fairs across the border: a province hosts, the other registers
//! booths for its businesses, each product checked with its owner then and
//! judged again, live, whenever the host lists it.

use serde_json::{Value, json};

use crate::helpers::{TestGateway, assert_code, assert_invalid, day, spawn_pair};

const REGISTER: &str =
    "mutation($i: RegisterProductInput!) { registerProduct(input: $i) { id version } }";
const FAIR: &str = "mutation($i: CreateTradeFairInput!) { createTradeFair(input: $i) {
    id booths boothsLeft minStars open } }";
const BOOTHS: &str = "mutation($i: RegisterBoothsInput!) { registerBooths(input: $i) {
    registration { id province { code } exhibiting { code } booths
                   exhibitors { facilityId productIds } }
    refused { productId code reason } } }";
const LISTED: &str = "query($id: ID!) { node(id: $id) { ... on TradeFair { boothsLeft
    registrations { edges { node { exhibiting { code }
        products { productId eligible code } } } } } } }";

/// The 2024 fair in Thái Nguyên, with `booths` booths.
async fn link_to_grow(thai_nguyen: &TestGateway, booths: i32) -> Value {
    thai_nguyen
        .data(
            FAIR,
            json!({ "i": { "name": "Kết nối cùng phát triển – Link to grow",
                           "place": "Quảng trường Võ Nguyên Giáp, thành phố Thái Nguyên",
                           "startsOn": day(20), "endsOn": day(24), "booths": booths,
                           "registrationDeadline": day(10) } }),
        )
        .await["createTradeFair"]
        .clone()
}

/// A Nghệ An business supplying Thái Nguyên, certified when `certified`,
/// with a product of each of `stars` (none for an unrated one).
async fn business(
    nghe_an: &TestGateway,
    name: &str,
    certified: bool,
    stars: &[Option<i64>],
) -> (Value, Vec<Value>) {
    let facility = nghe_an
        .create_facility(
            name,
            json!({ "commune": "Thanh Chương", "district": "Thanh Chương", "suppliesTo": ["19"] }),
        )
        .await;
    if certified {
        nghe_an
            .issue_certificate(
                facility["id"].as_str().unwrap(),
                json!({ "issuedOn": day(-30) }),
            )
            .await;
    }
    let mut products = Vec::new();
    for (i, stars) in stars.iter().enumerate() {
        let mut input = json!({ "name": format!("Nhút Thanh Chương {i}"), "category": "PROCESSED_FOOD",
                                "facilityId": facility["id"] });
        if let Some(stars) = stars {
            input["ocop"] = json!({ "stars": stars, "ratedOn": day(-100) });
        }
        products
            .push(nghe_an.data(REGISTER, json!({ "i": input })).await["registerProduct"].clone());
    }
    (facility, products)
}

fn exhibitor(facility: &Value, products: &[&Value]) -> Value {
    json!({ "facilityId": facility["id"],
            "productIds": products.iter().map(|p| p["id"].clone()).collect::<Vec<_>>() })
}

#[tokio::test]
async fn a_partner_books_booths_and_each_refused_product_says_why() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let fair = link_to_grow(&thai_nguyen, 10).await;
    assert_eq!(fair["minStars"], 3, "three stars unless the host says");
    let (kitchen, products) = business(
        &nghe_an,
        "Cơ sở nhút Thanh Chương",
        true,
        &[Some(4), Some(2), None],
    )
    .await;
    let (uncertified, theirs) = business(&nghe_an, "Hộ làm tương Nam Đàn", false, &[Some(3)]).await;

    // Nghệ An sees Thái Nguyên's fair, and registers through its own gateway.
    let fairs = nghe_an
        .data(
            "{ tradeFairs(scope: PARTNERS) { edges { node { id open } } } }",
            json!({}),
        )
        .await;
    assert_eq!(fairs["tradeFairs"]["edges"][0]["node"]["id"], fair["id"]);
    let booked = nghe_an
        .data(
            BOOTHS,
            json!({ "i": { "fairId": fair["id"], "booths": 2, "exhibitors": [
                exhibitor(&kitchen, &[&products[0], &products[1], &products[2]]),
                exhibitor(&uncertified, &[&theirs[0]]),
            ] } }),
        )
        .await["registerBooths"]
        .clone();
    let registration = &booked["registration"];
    assert_eq!(registration["province"]["code"], "19", "kept by the host");
    assert_eq!(registration["exhibiting"]["code"], "40");
    assert_eq!(
        registration["exhibitors"],
        json!([{ "facilityId": kitchen["id"], "productIds": [products[0]["id"]] }]),
        "only the eligible product is registered"
    );
    let mut refused: Vec<(Value, String)> = booked["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["productId"].clone(),
                r["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    refused.sort_by_key(|(_, code)| code.clone());
    assert_eq!(
        refused,
        [
            (theirs[0]["id"].clone(), "NOT_CERTIFIED".to_owned()),
            (products[2]["id"].clone(), "NOT_RATED".to_owned()),
            (products[1]["id"].clone(), "TOO_FEW_STARS".to_owned()),
        ]
    );
    assert!(
        booked["refused"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["reason"].as_str().is_some_and(|s| !s.is_empty())),
        "{booked:#}"
    );

    // The host lists it, each product judged now by its owner; when the
    // owner lowers the rating, the host's verdict changes with no copy.
    let listed = thai_nguyen.data(LISTED, json!({ "id": fair["id"] })).await;
    assert_eq!(listed["node"]["boothsLeft"], 8);
    let verdict =
        |listed: &Value| listed["node"]["registrations"]["edges"][0]["node"]["products"][0].clone();
    assert_eq!(verdict(&listed)["eligible"], true);
    nghe_an
        .data(
            "mutation($id: ID!, $v: Int!, $on: Date!) { updateProduct(id: $id, version: $v,
                input: { ocop: { stars: 2, ratedOn: $on } }) { id } }",
            json!({ "id": products[0]["id"], "v": products[0]["version"], "on": day(-10) }),
        )
        .await;
    let listed = thai_nguyen.data(LISTED, json!({ "id": fair["id"] })).await;
    assert_eq!(
        verdict(&listed),
        json!({ "productId": products[0]["id"], "eligible": false, "code": "TOO_FEW_STARS" })
    );
    // Nghệ An reads its own registration, judged by its own records.
    let ours = nghe_an
        .data(
            "{ boothRegistrations(scope: PARTNERS) { edges { node { booths products { eligible code } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        ours["boothRegistrations"]["edges"],
        json!([{ "node": { "booths": 2, "products": [{ "eligible": false, "code": "TOO_FEW_STARS" }] } }])
    );
}

#[tokio::test]
async fn two_registrations_racing_for_the_last_booth_one_wins() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let fair = link_to_grow(&thai_nguyen, 1).await;
    let (kitchen, products) = business(&nghe_an, "Cơ sở nhút Thanh Chương", true, &[Some(4)]).await;
    let (garden, ours) = {
        let garden = thai_nguyen
            .create_facility("Hợp tác xã chè La Bằng", json!({ "suppliesTo": [] }))
            .await;
        thai_nguyen
            .issue_certificate(
                garden["id"].as_str().unwrap(),
                json!({ "issuedOn": day(-30) }),
            )
            .await;
        let tea = thai_nguyen
            .data(
                REGISTER,
                json!({ "i": { "name": "Chè La Bằng", "category": "AGRICULTURAL",
                               "facilityId": garden["id"], "ocop": { "stars": 4, "ratedOn": day(-100) } } }),
            )
            .await["registerProduct"]
            .clone();
        (garden, vec![tea])
    };
    let theirs = json!({ "i": { "fairId": fair["id"], "booths": 1,
                               "exhibitors": [exhibitor(&kitchen, &[&products[0]])] } });
    let home = json!({ "i": { "fairId": fair["id"], "booths": 1,
                             "exhibitors": [exhibitor(&garden, &[&ours[0]])] } });
    let (a, b) = tokio::join!(nghe_an.post(BOOTHS, theirs), thai_nguyen.post(BOOTHS, home));
    let won: Vec<bool> = [&a, &b]
        .iter()
        .map(|answer| !answer["data"]["registerBooths"]["registration"].is_null())
        .collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{a:#}\n{b:#}");
    let lost = if won[0] { &b } else { &a };
    assert_code(lost, "CONFLICT");
    let left = thai_nguyen
        .data(
            "query($id: ID!) { node(id: $id) { ... on TradeFair { boothsLeft } } }",
            json!({ "id": fair["id"] }),
        )
        .await;
    assert_eq!(left["node"]["boothsLeft"], 0);
}

#[tokio::test]
async fn a_registration_out_of_time_or_of_another_province_keeps_nothing() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let closed = thai_nguyen
        .data(
            FAIR,
            json!({ "i": { "name": "Hội chợ OCOP", "place": "Thành phố Thái Nguyên",
                           "startsOn": day(-2), "endsOn": day(2), "booths": 5,
                           "registrationDeadline": day(-5) } }),
        )
        .await["createTradeFair"]
        .clone();
    assert_eq!(closed["open"], false);
    let (kitchen, products) = business(&nghe_an, "Cơ sở nhút Thanh Chương", true, &[Some(4)]).await;
    let late = nghe_an
        .post(
            BOOTHS,
            json!({ "i": { "fairId": closed["id"], "booths": 1,
                           "exhibitors": [exhibitor(&kitchen, &[&products[0]])] } }),
        )
        .await;
    assert_invalid(&late, "input.fairId");
    let fair = link_to_grow(&thai_nguyen, 5).await;
    // A business of another province, and one that does not supply the host.
    let garden = thai_nguyen
        .create_facility("Hợp tác xã chè La Bằng", json!({ "suppliesTo": [] }))
        .await;
    let refused = nghe_an
        .post(
            BOOTHS,
            json!({ "i": { "fairId": fair["id"], "booths": 1,
                           "exhibitors": [exhibitor(&garden, &[&products[0]])] } }),
        )
        .await;
    assert_code(&refused, "NOT_OWNER");
    let home = nghe_an
        .create_facility("Cơ sở bán lẻ Vinh", json!({ "suppliesTo": [] }))
        .await;
    let refused = nghe_an
        .post(
            BOOTHS,
            json!({ "i": { "fairId": fair["id"], "booths": 1,
                           "exhibitors": [exhibitor(&home, &[&products[0]])] } }),
        )
        .await;
    assert_invalid(&refused, "input.exhibitors.0.facilityId");
    let bad = thai_nguyen
        .post(
            FAIR,
            json!({ "i": { "name": "Hội chợ", "place": "Thái Nguyên", "startsOn": day(5),
                           "endsOn": day(3), "booths": 5, "registrationDeadline": day(1) } }),
        )
        .await;
    assert_invalid(&bad, "input.endsOn");
    let left = thai_nguyen
        .data(
            "query($id: ID!) { node(id: $id) { ... on TradeFair { boothsLeft } } }",
            json!({ "id": fair["id"] }),
        )
        .await;
    assert_eq!(left["node"]["boothsLeft"], 5);
    let none = thai_nguyen
        .data(
            "{ boothRegistrations { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(none["boothRegistrations"]["edges"], json!([]));
}
