//! A partner's change feed, as a sync job reads it: the feed's epoch, a page
//! of the records that changed (each once), and those records in their
//! owner's latest form, each with the JSON it came in, to keep as our copy.
//! What a sync makes of them — epochs compared, cursors that must move on —
//! is `crate::sync`'s.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::records::{EPOCH, FEED, Reader, nodes_query};
use super::{Partner, PartnerError, Trace};
use crate::domain::{GlobalId, Record};

/// One page of a partner's feed.
#[derive(Debug, Clone)]
pub struct Changes {
    /// The feed's epoch when the page was read.
    pub epoch: String,
    /// The cursor after the page's last change; `None` for an empty page, the
    /// feed's end.
    pub until: Option<String>,
    /// The records that changed, each once, in feed order.
    pub ids: Vec<GlobalId>,
    /// Whether more pages follow.
    pub more: bool,
}

/// A partner's record, and the JSON it came in.
#[derive(Debug, Clone)]
pub struct Copy {
    pub record: Record,
    pub body: String,
}

fn bad(what: &str) -> PartnerError {
    PartnerError::BadResponse(what.to_owned())
}

/// The epoch of `partner`'s feed now.
pub async fn epoch(partner: &Partner, trace: &Trace) -> Result<String, PartnerError> {
    let data = partner.query(EPOCH, json!({}), trace).await?;
    read_epoch(&data["changes"])
}

fn read_epoch(changes: &Value) -> Result<String, PartnerError> {
    changes["epoch"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| bad("no epoch"))
}

/// The page of `partner`'s feed after the cursor `after`, of
/// `partner.sync_page()` changes at most.
pub async fn changes(
    partner: &Partner,
    after: Option<&str>,
    trace: &Trace,
) -> Result<Changes, PartnerError> {
    let variables = json!({ "after": after, "first": partner.sync_page() });
    let data = partner.query(FEED, variables, trace).await?;
    let feed = &data["changes"];
    let epoch = read_epoch(feed)?;
    let edges = feed["edges"].as_array().ok_or_else(|| bad("no edges"))?;
    let until = match &feed["pageInfo"]["endCursor"] {
        Value::Null => None,
        cursor => Some(cursor.as_str().ok_or_else(|| bad("cursor"))?.to_owned()),
    };
    let mut ids: Vec<GlobalId> = Vec::new();
    let mut seen = HashSet::new();
    for edge in edges {
        let id = edge["node"]["id"]
            .as_str()
            .ok_or_else(|| bad("change id"))?;
        let id = GlobalId::parse(id).map_err(|_| bad("change id"))?;
        if id.province != partner.province {
            return Err(bad("a change of another province"));
        }
        if seen.insert(id) {
            ids.push(id);
        }
    }
    Ok(Changes {
        epoch,
        until,
        ids,
        more: feed["pageInfo"]["hasNextPage"] == json!(true),
    })
}

/// The records of `ids` in their owner's latest form, one per ID; `None`
/// where the partner no longer shares it with us (or has it no more).
pub async fn records(
    partner: &Partner,
    ids: &[GlobalId],
    trace: &Trace,
) -> Result<Vec<Option<Copy>>, PartnerError> {
    let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let data = partner
        .query(&nodes_query(ids), json!({ "ids": names }), trace)
        .await?;
    Ok(Reader {
        owner: partner.province,
    }
    .nodes(ids, &data)?
    .into_iter()
    .map(|node| {
        node.map(|(record, json)| Copy {
            record,
            // Written straight into the string: `Value`'s `Display` goes
            // through a formatter call for every piece, which made this
            // write-out a tenth of a sync client's CPU.
            body: serde_json::to_string(json).expect("a JSON value writes as JSON"),
        })
    })
    .collect())
}
