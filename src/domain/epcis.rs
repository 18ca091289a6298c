//! Events in and out as GS1 EPCIS 2.0 JSON-LD: a document of events, each
//! with its what (EPCs, or lots by quantity), when, where (our facilities as
//! locations) and why (business step, disposition), in the Core Business
//! Vocabulary's bare words.

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value, json};

use super::{
    BizStep, Disposition, Epc, EventAction, FACILITY_URI, GlobalId, Item, ItemRole, ProvinceCode,
    QuantityUnit, RecordKind, TraceEventData, TraceEventRecord, TraceEventType,
};

/// The JSON-LD context of EPCIS 2.0 documents.
pub const EPCIS_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";

/// Most events one captured document holds.
pub const MAX_CAPTURED: usize = 500;

/// A facility as an EPCIS location: `urn:caunoi:facility:19:42`.
pub fn facility_uri(facility: GlobalId) -> String {
    format!("{FACILITY_URI}{}:{}", facility.province, facility.local)
}

/// The facility a location URI of ours names, if it is one.
pub fn facility_of_uri(uri: &str) -> Option<GlobalId> {
    let (province, local) = uri.strip_prefix(FACILITY_URI)?.split_once(':')?;
    let province = ProvinceCode::parse(province).ok()?;
    let local: i64 = local.parse().ok().filter(|n| *n > 0)?;
    Some(GlobalId::new(RecordKind::Facility, province, local))
}

/// An EPCIS 2.0 document holding `events`, made at `created`.
pub fn document(events: &[&TraceEventRecord], created: DateTime<Utc>) -> Value {
    json!({
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created.to_rfc3339(),
        "epcisBody": { "eventList": events.iter().map(|e| event(e)).collect::<Vec<_>>() },
    })
}

/// One event as EPCIS writes it.
pub fn event(record: &TraceEventRecord) -> Value {
    let data = &record.data;
    let mut out = Map::new();
    let transformation = data.event_type == TraceEventType::Transformation;
    out.insert(
        "type".into(),
        json!(if transformation {
            "TransformationEvent"
        } else {
            "ObjectEvent"
        }),
    );
    out.insert("eventID".into(), json!(record.event_id));
    let offset = offset_of(&data.time_zone_offset).unwrap_or_else(vietnam);
    out.insert(
        "eventTime".into(),
        json!(data.event_time.with_timezone(&offset).to_rfc3339()),
    );
    out.insert("eventTimeZoneOffset".into(), json!(data.time_zone_offset));
    out.insert("recordTime".into(), json!(record.recorded_at.to_rfc3339()));
    if let Some(action) = data.action {
        out.insert("action".into(), json!(action.code().to_ascii_uppercase()));
    }
    let lists: &[(ItemRole, &str, &str)] = if transformation {
        &[
            (ItemRole::Input, "inputEPCList", "inputQuantityList"),
            (ItemRole::Output, "outputEPCList", "outputQuantityList"),
        ]
    } else {
        &[(ItemRole::What, "epcList", "quantityList")]
    };
    for (role, epcs, quantities) in lists {
        let (counted, listed): (Vec<&Item>, Vec<&Item>) = data
            .items
            .iter()
            .filter(|i| i.role == *role)
            .partition(|i| i.quantity.is_some());
        if !listed.is_empty() {
            let uris: Vec<String> = listed.iter().map(|i| i.epc.uri()).collect();
            out.insert((*epcs).into(), json!(uris));
        }
        if !counted.is_empty() {
            let elements: Vec<Value> = counted
                .iter()
                .map(|i| {
                    let mut element = json!({ "epcClass": i.epc.uri(), "quantity": i.quantity });
                    if let Some(unit) = i.unit {
                        element["uom"] = json!(unit.uom());
                    }
                    element
                })
                .collect();
            out.insert((*quantities).into(), json!(elements));
        }
    }
    out.insert("bizStep".into(), json!(data.biz_step.code()));
    if let Some(disposition) = data.disposition {
        out.insert("disposition".into(), json!(disposition.code()));
    }
    let here = json!({ "id": facility_uri(data.facility) });
    out.insert("readPoint".into(), here.clone());
    out.insert("bizLocation".into(), here);
    if let Some(source) = data.source {
        out.insert(
            "sourceList".into(),
            json!([{ "type": "location", "source": facility_uri(source) }]),
        );
    }
    if let Some(destination) = data.destination {
        out.insert(
            "destinationList".into(),
            json!([{ "type": "location", "destination": facility_uri(destination) }]),
        );
    }
    if let Some(error) = &record.error {
        out.insert(
            "errorDeclaration".into(),
            json!({
                "declarationTime": error.declared_at.to_rfc3339(),
                "reason": error.reason.code(),
                "correctiveEventIDs": error.corrective_event_ids,
            }),
        );
    }
    Value::Object(out)
}

/// An event read from a captured document, to be recorded at `facility`,
/// with the `eventID` it came with.
#[derive(Debug, Clone)]
pub struct Captured {
    pub event_id: Option<String>,
    pub data: TraceEventData,
}

/// Reads a captured EPCIS document's events, all recorded at `facility`.
/// A refusal names its place in the document (`epcisBody.eventList.2.bizStep`)
/// and says why.
pub fn read_document(document: &Value, facility: GlobalId) -> Result<Vec<Captured>, Bad> {
    if document["type"] != json!("EPCISDocument") {
        return Err(bad("type", "an EPCIS document's type is `EPCISDocument`"));
    }
    let Some(events) = document["epcisBody"]["eventList"].as_array() else {
        return Err(bad(
            "epcisBody.eventList",
            "the document holds a list of events",
        ));
    };
    if events.is_empty() || events.len() > MAX_CAPTURED {
        return Err(bad(
            "epcisBody.eventList",
            format!("from 1 to {MAX_CAPTURED} events at once"),
        ));
    }
    events
        .iter()
        .enumerate()
        .map(|(at, event)| {
            read_event(event, facility)
                .map_err(|(field, reason)| (format!("epcisBody.eventList.{at}.{field}"), reason))
        })
        .collect()
}

/// Where in a document a value was refused, and why.
pub type Bad = (String, String);

fn bad(field: &str, reason: impl Into<String>) -> Bad {
    (field.to_owned(), reason.into())
}

fn read_event(event: &Value, facility: GlobalId) -> Result<Captured, Bad> {
    let event_type = match event["type"].as_str() {
        Some("ObjectEvent") => TraceEventType::Object,
        Some("TransformationEvent") => TraceEventType::Transformation,
        other => {
            return Err(bad(
                "type",
                format!("{other:?}: only ObjectEvent and TransformationEvent are kept for tracing"),
            ));
        }
    };
    if !event["errorDeclaration"].is_null() {
        return Err(bad(
            "errorDeclaration",
            "an error is declared with `correctTraceEvent`, naming the event",
        ));
    }
    let event_time = event["eventTime"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| bad("eventTime", "a date and time with its offset (RFC 3339)"))?
        .with_timezone(&Utc);
    let time_zone_offset = event["eventTimeZoneOffset"]
        .as_str()
        .filter(|o| offset_of(o).is_some())
        .ok_or_else(|| bad("eventTimeZoneOffset", "an offset such as `+07:00`"))?
        .to_owned();
    let event_id = match &event["eventID"] {
        Value::Null => None,
        Value::String(id) if Epc::parse(id).is_ok() => Some(id.clone()),
        _ => return Err(bad("eventID", "a URI")),
    };
    let action = match (event_type, event["action"].as_str()) {
        (TraceEventType::Transformation, _) => None,
        (TraceEventType::Object, Some(action)) => Some(
            EventAction::from_code(&action.to_ascii_lowercase())
                .map_err(|_| bad("action", "ADD, OBSERVE or DELETE"))?,
        ),
        (TraceEventType::Object, None) => return Err(bad("action", "an object event's action")),
    };
    let biz_step = match event["bizStep"].as_str() {
        Some(step) => BizStep::from_code(vocabulary(
            step,
            &[
                "urn:epcglobal:cbv:bizstep:",
                "https://ref.gs1.org/cbv/BizStep-",
            ],
        ))
        .map_err(|_| {
            bad(
                "bizStep",
                format!("`{step}` is not a business step we trace"),
            )
        })?,
        None => return Err(bad("bizStep", "the business step, to trace by")),
    };
    let disposition = match event["disposition"].as_str() {
        Some(disposition) => Some(
            Disposition::from_code(vocabulary(
                disposition,
                &["urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-"],
            ))
            .map_err(|_| bad("disposition", format!("`{disposition}` is not one we keep")))?,
        ),
        None => None,
    };
    for field in ["readPoint", "bizLocation"] {
        if let Some(at) = event[field]["id"].as_str().and_then(facility_of_uri)
            && at != facility
        {
            return Err(bad(
                field,
                format!("the document is captured at {facility}, not {at}"),
            ));
        }
    }
    let located = |list: &str, key: &str| -> Option<GlobalId> {
        event[list]
            .as_array()?
            .iter()
            .filter_map(|entry| entry[key].as_str().and_then(facility_of_uri))
            .next()
    };
    let lists: &[(ItemRole, &str, &str)] = match event_type {
        TraceEventType::Object => &[(ItemRole::What, "epcList", "quantityList")],
        TraceEventType::Transformation => &[
            (ItemRole::Input, "inputEPCList", "inputQuantityList"),
            (ItemRole::Output, "outputEPCList", "outputQuantityList"),
        ],
    };
    let mut items = Vec::new();
    for (role, epcs, quantities) in lists {
        for (i, uri) in list(event, epcs)?.iter().enumerate() {
            let epc = uri
                .as_str()
                .and_then(|u| Epc::parse(u).ok())
                .ok_or_else(|| bad(&format!("{epcs}.{i}"), "an EPC URI"))?;
            items.push(Item {
                role: *role,
                epc,
                quantity: None,
                unit: None,
            });
        }
        for (i, element) in list(event, quantities)?.iter().enumerate() {
            let at = |field: &str| format!("{quantities}.{i}.{field}");
            let epc = element["epcClass"]
                .as_str()
                .and_then(|u| Epc::parse(u).ok())
                .ok_or_else(|| bad(&at("epcClass"), "an EPC class URI"))?;
            let quantity = element["quantity"]
                .as_f64()
                .ok_or_else(|| bad(&at("quantity"), "a number"))?;
            let unit = match element["uom"].as_str() {
                None => None,
                Some(uom) => Some(QuantityUnit::from_uom(uom).ok_or_else(|| {
                    bad(
                        &at("uom"),
                        format!("`{uom}`: we count in KGM, TNE, GRM, LTR or H87"),
                    )
                })?),
            };
            items.push(Item {
                role: *role,
                epc,
                quantity: Some(quantity),
                unit,
            });
        }
    }
    let data = TraceEventData {
        event_type,
        action,
        biz_step,
        disposition,
        event_time,
        time_zone_offset,
        facility,
        source: located("sourceList", "source"),
        destination: located("destinationList", "destination"),
        items,
    };
    data.check(facility.province)
        .map_err(|refusal| bad(refusal.field, refusal.reason))?;
    Ok(Captured { event_id, data })
}

/// The array at `field` of `event`, empty when absent.
fn list<'v>(event: &'v Value, field: &str) -> Result<&'v [Value], Bad> {
    match &event[field] {
        Value::Null => Ok(&[]),
        Value::Array(items) => Ok(items),
        _ => Err(bad(field, "a list")),
    }
}

/// A Core Business Vocabulary word, from its bare form or either URI form.
fn vocabulary<'a>(value: &'a str, prefixes: &[&str]) -> &'a str {
    prefixes
        .iter()
        .find_map(|prefix| value.strip_prefix(prefix))
        .unwrap_or(value)
}

/// `+07:00` as an offset.
fn offset_of(text: &str) -> Option<FixedOffset> {
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = text[1..].split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 14 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

fn vietnam() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("UTC+7 is a valid offset")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LotCode;

    fn p(code: &str) -> ProvinceCode {
        ProvinceCode::parse(code).unwrap()
    }

    #[test]
    fn an_exported_event_reads_back_as_it_was() {
        let facility = GlobalId::new(RecordKind::Facility, p("19"), 4);
        let shop = GlobalId::new(RecordKind::Facility, p("40"), 9);
        assert_eq!(facility_of_uri(&facility_uri(shop)), Some(shop));
        let lot = Epc::Lot(LotCode::new(p("19"), 2026, 7));
        let record = TraceEventRecord {
            id: GlobalId::new(RecordKind::TraceEvent, p("19"), 1),
            version: 1,
            event_id: "urn:uuid:9a1e0c2e-6a0e-4b5c-8d7e-0f1a2b3c4d5e".to_owned(),
            data: TraceEventData {
                event_type: TraceEventType::Object,
                action: Some(EventAction::Observe),
                biz_step: BizStep::Shipping,
                disposition: Some(Disposition::InTransit),
                event_time: "2026-11-30T02:00:00Z".parse().unwrap(),
                time_zone_offset: "+07:00".to_owned(),
                facility,
                source: None,
                destination: Some(shop),
                items: vec![
                    Item {
                        role: ItemRole::What,
                        epc: lot,
                        quantity: Some(100.0),
                        unit: Some(QuantityUnit::Kilogram),
                    },
                    Item {
                        role: ItemRole::What,
                        epc: Epc::Other("urn:epc:id:sgtin:0614141.107346.2017".to_owned()),
                        quantity: None,
                        unit: None,
                    },
                ],
            },
            error: None,
            recorded_at: Utc::now(),
        };
        let written = event(&record);
        assert_eq!(written["eventTime"], "2026-11-30T09:00:00+07:00");
        assert_eq!(written["quantityList"][0]["uom"], "KGM");
        let document = document(&[&record], Utc::now());
        let read = read_document(&document, facility).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].event_id.as_deref(), Some(record.event_id.as_str()));
        let mut items = read[0].data.items.clone();
        items.sort_by_key(|i| i.epc.uri());
        let mut expected = record.data.items.clone();
        expected.sort_by_key(|i| i.epc.uri());
        assert_eq!(
            TraceEventData {
                items,
                ..read[0].data.clone()
            },
            TraceEventData {
                items: expected,
                ..record.data
            }
        );
    }

    #[test]
    fn a_bad_event_is_named_by_its_place_and_field() {
        let facility = GlobalId::new(RecordKind::Facility, p("19"), 4);
        let good = json!({ "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "storing",
            "eventTime": "2026-11-30T09:00:00+07:00", "eventTimeZoneOffset": "+07:00",
            "epcList": ["urn:caunoi:lot:19-LO-2026-000001"] });
        let with = |field: &str, value: Value| {
            let mut bad = good.clone();
            bad[field] = value;
            json!({ "type": "EPCISDocument", "epcisBody": { "eventList": [good.clone(), bad] } })
        };
        for (field, value, named) in [
            ("bizStep", json!("juggling"), "1.bizStep"),
            ("action", json!("MAYBE"), "1.action"),
            ("eventTime", json!("yesterday"), "1.eventTime"),
            ("epcList", json!(["not a uri"]), "1.epcList.0"),
            ("type", json!("AggregationEvent"), "1.type"),
            (
                "readPoint",
                json!({ "id": "urn:caunoi:facility:19:5" }),
                "1.readPoint",
            ),
        ] {
            let (place, reason) = read_document(&with(field, value), facility).unwrap_err();
            assert_eq!(place, format!("epcisBody.eventList.{named}"), "{reason}");
        }
    }
}
