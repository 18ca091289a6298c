//! The market across the border: harvest offers browsed over both
//! provinces, an urgent one told to the partner once, and a buyer's
//! interest kept by the offer's owner and followed by the buyer's province.

use serde_json::{Value, json};

use crate::alerts::delivered;
use crate::helpers::{TestGateway, assert_code, assert_invalid, day, spawn_pair};

const REGISTER: &str = "mutation($i: RegisterProductInput!) { registerProduct(input: $i) { id } }";
pub(crate) const OFFER: &str =
    "mutation($i: CreateHarvestOfferInput!) { createHarvestOffer(input: $i) {
    id version province { code } productName category certified urgent status
    contact { name phone } } }";
const OFFERS: &str = "query($f: HarvestOfferFilterInput, $s: Scope) {
    harvestOffers(filter: $f, scope: $s) { edges { node { id productName facilityName
    province { code } certified urgent contact { name phone } } } } }";
const INTEREST: &str = "mutation($i: RegisterInterestInput!) { registerInterest(input: $i) {
    id version province { code } offerId buyerFacilityId buyerProvince { code } state
    quantity contact { name phone } } }";
const MARKET_EVENTS: &str = "{ marketEvents { edges { node { kind offerId interestId
    offer { productName } } } } }";

/// A facility of `gw` of `kind` and one of its products, `name`; with a
/// valid certificate when `certified` (and the certificate).
pub(crate) async fn grower(
    gw: &TestGateway,
    facility: &str,
    kind: &str,
    name: &str,
    ocop_stars: Option<i32>,
    certified: bool,
) -> (Value, Value, Value) {
    let (commune, district) = match gw.province.as_str() {
        "40" => ("Nghi Diên", "Nghi Lộc"),
        _ => ("Tân Cương", "Thành phố Thái Nguyên"),
    };
    let facility = gw
        .create_facility(
            facility,
            json!({ "kind": kind, "suppliesTo": [], "commune": commune, "district": district }),
        )
        .await;
    let mut input =
        json!({ "name": name, "category": "AGRICULTURAL", "facilityId": facility["id"] });
    if let Some(stars) = ocop_stars {
        input["ocop"] = json!({ "stars": stars, "ratedOn": day(-100) });
    }
    let product = gw.data(REGISTER, json!({ "i": input })).await["registerProduct"].clone();
    let certificate = match certified {
        true => {
            gw.issue_certificate(
                facility["id"].as_str().unwrap(),
                json!({ "issuedOn": day(-30) }),
            )
            .await
        }
        false => Value::Null,
    };
    (facility, product, certificate)
}

pub(crate) fn offer_input(facility: &Value, product: &Value, urgent: bool) -> Value {
    json!({ "facilityId": facility["id"], "productId": product["id"], "quantity": 20000.0,
            "unit": "KILOGRAM", "harvestFrom": day(3), "harvestUntil": day(30),
            "minPriceVnd": 15000, "maxPriceVnd": 22000,
            "collectionPoint": "Xã Nghi Diên, huyện Nghi Lộc", "urgent": urgent,
            "contact": { "name": "Nguyễn Văn Cam", "phone": "0912 345 678" } })
}

fn names(answer: &Value) -> Vec<String> {
    let mut names: Vec<String> = answer["harvestOffers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["productName"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn offers_of_both_provinces_are_browsed_each_as_its_owner_answers() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let (orchard, orange, certificate) = grower(
        &nghe_an,
        "Hợp tác xã cam Vinh Nghi Diên",
        "COOPERATIVE",
        "Cam Vinh",
        Some(4),
        true,
    )
    .await;
    let (garden, tea, _) = grower(
        &thai_nguyen,
        "Hợp tác xã chè Tân Cương",
        "COOPERATIVE",
        "Chè Tân Cương",
        Some(3),
        false,
    )
    .await;
    let mut cam = offer_input(&orchard, &orange, false);
    cam["contactShared"] = json!(true);
    nghe_an.data(OFFER, json!({ "i": cam })).await;
    let mut che = offer_input(&garden, &tea, false);
    che["harvestFrom"] = json!(day(40));
    che["harvestUntil"] = json!(day(60));
    che["collectionPoint"] = json!("Xóm Hồng Thái 2, xã Tân Cương");
    thai_nguyen.data(OFFER, json!({ "i": che })).await;

    let all = thai_nguyen.data(OFFERS, json!({ "s": "ALL" })).await;
    assert_eq!(names(&all), ["Cam Vinh", "Chè Tân Cương"]);
    let cam_vinh = &all["harvestOffers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["productName"] == "Cam Vinh")
        .unwrap()["node"];
    assert_eq!(cam_vinh["province"]["code"], "40");
    assert_eq!(cam_vinh["facilityName"], "Hợp tác xã cam Vinh Nghi Diên");
    assert_eq!(cam_vinh["certified"], true, "the owner's live answer");
    assert_eq!(
        cam_vinh["contact"],
        json!({ "name": "Nguyễn Văn Cam", "phone": "0912345678" }),
        "shared with consent"
    );

    let filtered = |filter: Value| {
        let gw = &thai_nguyen;
        async move { names(&gw.data(OFFERS, json!({ "s": "ALL", "f": filter })).await) }
    };
    assert_eq!(
        filtered(json!({ "text": "che tan cuong" })).await,
        ["Chè Tân Cương"]
    );
    assert_eq!(filtered(json!({ "text": "NGHI DIEN" })).await, ["Cam Vinh"]);
    assert_eq!(filtered(json!({ "minStars": 4 })).await, ["Cam Vinh"]);
    assert_eq!(
        filtered(json!({ "certified": false })).await,
        ["Chè Tân Cương"]
    );
    assert_eq!(
        filtered(json!({ "harvestFrom": day(35), "harvestUntil": day(45) })).await,
        ["Chè Tân Cương"]
    );
    assert_eq!(
        filtered(json!({ "category": "AQUATIC" })).await,
        Vec::<String>::new()
    );

    // Nghệ An's own offer without consent keeps its contact at home.
    let tea_at_home = nghe_an.data(OFFERS, json!({ "s": "PARTNERS" })).await;
    assert_eq!(names(&tea_at_home), ["Chè Tân Cương"]);
    assert_eq!(
        tea_at_home["harvestOffers"]["edges"][0]["node"]["contact"],
        Value::Null
    );
    let at_home = thai_nguyen.data(OFFERS, json!({ "s": "LOCAL" })).await;
    assert_eq!(
        at_home["harvestOffers"]["edges"][0]["node"]["contact"]["name"],
        "Nguyễn Văn Cam"
    );

    // Whether a facility is certified is its owner's answer when asked.
    nghe_an
        .data(
            "mutation($id: ID!) { suspendCertificate(id: $id, version: 1, reason: \"Kiểm tra lại\") { status } }",
            json!({ "id": certificate["id"] }),
        )
        .await;
    assert_eq!(
        filtered(json!({ "certified": true })).await,
        Vec::<String>::new()
    );
    assert_eq!(
        filtered(json!({ "certified": false })).await,
        ["Cam Vinh", "Chè Tân Cương"]
    );

    // Only the owner offers its products.
    let bad = nghe_an
        .post(OFFER, json!({ "i": offer_input(&orchard, &tea, false) }))
        .await;
    assert_code(&bad, "NOT_OWNER");
    let mut backwards = offer_input(&orchard, &orange, false);
    backwards["harvestUntil"] = json!(day(1));
    assert_invalid(
        &nghe_an.post(OFFER, json!({ "i": backwards })).await,
        "input.harvestUntil",
    );
    assert_invalid(
        &thai_nguyen
            .post(OFFERS, json!({ "f": { "minStars": 6 } }))
            .await,
        "filter.minStars",
    );
}

#[tokio::test]
async fn an_urgent_offer_is_told_once_and_a_buyer_across_the_border_registers_interest() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let mut sent = nghe_an.app.notices_sent();
    let (orchard, orange, _) = grower(
        &nghe_an,
        "Hợp tác xã cam Vinh Nghi Diên",
        "COOPERATIVE",
        "Cam Vinh",
        None,
        true,
    )
    .await;
    let offer = nghe_an
        .data(OFFER, json!({ "i": offer_input(&orchard, &orange, true) }))
        .await["createHarvestOffer"]
        .clone();
    assert_eq!(offer["urgent"], true);
    delivered(&mut sent, 1).await;

    // Thái Nguyên's feed shows the offer it was told of.
    let events = thai_nguyen.data(MARKET_EVENTS, json!({})).await;
    assert_eq!(
        events["marketEvents"]["edges"],
        json!([{ "node": { "kind": "OFFER_RECEIVED", "offerId": offer["id"],
                           "interestId": null, "offer": { "productName": "Cam Vinh" } } }])
    );
    // And the alert feed holds no market event.
    let alerts = thai_nguyen
        .data("{ alertEvents { edges { node { kind } } } }", json!({}))
        .await;
    assert_eq!(alerts["alertEvents"]["edges"], json!([]));

    // A Thái Nguyên trader registers interest through its own gateway.
    let trader = thai_nguyen
        .create_facility(
            "Công ty TNHH Nông sản Thái Nguyên",
            json!({ "kind": "TRADER", "suppliesTo": [] }),
        )
        .await;
    let interest = thai_nguyen
        .data(
            INTEREST,
            json!({ "i": { "offerId": offer["id"], "facilityId": trader["id"], "quantity": 5000.0,
                           "message": "Lấy 5 tấn, giao tại Nghi Lộc",
                           "contact": { "name": "Trần Thị Chè", "phone": "+84 988 111 222" } } }),
        )
        .await["registerInterest"]
        .clone();
    assert_eq!(
        interest["province"]["code"], "40",
        "kept by the offer's owner"
    );
    assert_eq!(interest["buyerProvince"]["code"], "19");
    assert_eq!(interest["state"], "PENDING");

    // Nghệ An's operators see it, with the buyer's details, and answer it.
    let seen = nghe_an
        .data(
            "query($id: ID!) { node(id: $id) { ... on HarvestOffer { interests {
                edges { node { id version buyerFacilityId contact { name phone } } } } } } }",
            json!({ "id": offer["id"] }),
        )
        .await;
    let kept = &seen["node"]["interests"]["edges"][0]["node"];
    assert_eq!(kept["id"], interest["id"]);
    assert_eq!(kept["buyerFacilityId"], trader["id"]);
    assert_eq!(
        kept["contact"],
        json!({ "name": "Trần Thị Chè", "phone": "0988111222" })
    );
    let kinds = nghe_an.data(MARKET_EVENTS, json!({})).await;
    let kinds: Vec<&str> = kinds["marketEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["URGENT_OFFER", "INTEREST_RECEIVED"]);
    nghe_an
        .data(
            "mutation($id: ID!, $v: Int!) { answerInterest(id: $id, version: $v, state: ACCEPTED,
                answer: \"Mời anh chị đến vườn ngày mai\") { state } }",
            json!({ "id": interest["id"], "v": kept["version"] }),
        )
        .await;

    // The buyer's province follows its interest, live from the owner.
    let followed = thai_nguyen
        .data(
            "{ interests(scope: PARTNERS) { edges { node { id state answer } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        followed["interests"]["edges"],
        json!([{ "node": { "id": interest["id"], "state": "ACCEPTED",
                           "answer": "Mời anh chị đến vườn ngày mai" } }])
    );

    // Refusals: a buyer that does not trade, a partner's facility, a closed
    // offer, nothing kept.
    let (farm, _, _) = grower(
        &thai_nguyen,
        "Hộ trồng chè",
        "PRIMARY_PRODUCER",
        "Chè",
        None,
        false,
    )
    .await;
    let interest = |buyer: &Value| {
        thai_nguyen.post(
            INTEREST,
            json!({ "i": { "offerId": offer["id"], "facilityId": buyer["id"] } }),
        )
    };
    assert_invalid(&interest(&farm).await, "input.facilityId");
    assert_code(&interest(&orchard).await, "NOT_OWNER");
    nghe_an
        .data(
            "mutation($id: ID!, $v: Int!) { closeHarvestOffer(id: $id, version: $v) { status } }",
            json!({ "id": offer["id"], "v": offer["version"] }),
        )
        .await;
    assert_invalid(&interest(&trader).await, "input.offerId");
    let count = nghe_an
        .data("{ interests { edges { node { id } } } }", json!({}))
        .await;
    assert_eq!(count["interests"]["edges"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_interest_sent_twice_is_kept_once_and_a_partner_speaks_only_for_its_buyers() {
    let (thai_nguyen, nghe_an) = spawn_pair().await;
    let (orchard, orange, _) = grower(
        &nghe_an,
        "Hợp tác xã cam Vinh Nghi Diên",
        "COOPERATIVE",
        "Cam Vinh",
        None,
        false,
    )
    .await;
    let offer = nghe_an
        .data(OFFER, json!({ "i": offer_input(&orchard, &orange, false) }))
        .await["createHarvestOffer"]
        .clone();
    let gateway = nghe_an.client(Some(
        &thai_nguyen.pki.leaf("19", caunoi::domain::Role::Gateway),
    ));
    let receive = "mutation($i: ReceiveInterestInput!) { receiveInterest(input: $i) { id } }";
    let input = |buyer: &str| json!({ "i": { "reference": "a1b2", "offerId": offer["id"], "buyerFacilityId": buyer } });
    let mut kept = Vec::new();
    for _ in 0..2 {
        let (status, answer) = nghe_an
            .post_with(&gateway, receive, input("Facility:19:7"))
            .await;
        assert_eq!(status, 200, "{answer:#}");
        kept.push(answer["data"]["receiveInterest"]["id"].clone());
    }
    assert_eq!(kept[0], kept[1], "the same reference is the same interest");
    let (_, answer) = nghe_an
        .post_with(&gateway, receive, input("Facility:40:1"))
        .await;
    assert_code(&answer, "NOT_OWNER");
    let count = nghe_an
        .data("{ interests { edges { node { id } } } }", json!({}))
        .await;
    assert_eq!(count["interests"]["edges"].as_array().unwrap().len(), 1);
}
