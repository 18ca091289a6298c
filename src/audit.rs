//! Verifying the audit trail: [`verify`] walks the chain the store holds and
//! reports the first broken link. The chain's primitives — an event, its
//! canonical form and link hash, an entry, the head — are `domain::audit`.

use std::fmt;

use crate::domain::audit::{GENESIS, Head};
use crate::store::{PageRequest, Store};

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Entries checked.
    pub entries: u64,
    /// The head as recomputed from the entries.
    pub head: Head,
    /// The first broken link: the entry id and what is wrong there.
    pub broken: Option<(i64, String)>,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.broken {
            None => write!(
                f,
                "audit chain intact: {} entries, head {}",
                self.entries, self.head
            ),
            Some((id, why)) => write!(f, "audit chain BROKEN at entry {id}: {why}"),
        }
    }
}

/// Walks the whole chain, page by page. `expected` is a head exported earlier:
/// the chain must still hold that entry with that hash.
pub async fn verify(store: &Store, expected: Option<&Head>) -> anyhow::Result<Verdict> {
    let mut head = Head {
        id: 0,
        hash: GENESIS.to_owned(),
    };
    let mut entries = 0u64;
    let mut after = None;
    let mut seen_expected = expected.is_none_or(|h| h.id == 0);
    let broken = |id: i64, why: String, entries: u64, head: &Head| Verdict {
        entries,
        head: head.clone(),
        broken: Some((id, why)),
    };
    loop {
        let page = store
            .audit_entries(PageRequest { after, first: 1000 }, &Default::default())
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the audit log: {e:?}"))?;
        for entry in &page.items {
            let expected_id = head.id + 1;
            if entry.id != expected_id {
                return Ok(broken(
                    expected_id,
                    format!("entry {expected_id} is missing (the next is {})", entry.id),
                    entries,
                    &head,
                ));
            }
            if entry.prev_hash != head.hash {
                return Ok(broken(
                    entry.id,
                    "it does not link to the entry before".to_owned(),
                    entries,
                    &head,
                ));
            }
            if entry.event.link_hash(entry.id, &entry.prev_hash) != entry.hash {
                return Ok(broken(
                    entry.id,
                    "its content does not match its hash".to_owned(),
                    entries,
                    &head,
                ));
            }
            head = Head {
                id: entry.id,
                hash: entry.hash.clone(),
            };
            entries += 1;
            if let Some(expected) = expected
                && expected.id == entry.id
            {
                if expected.hash != entry.hash {
                    return Ok(broken(
                        entry.id,
                        "it differs from the exported head".to_owned(),
                        entries,
                        &head,
                    ));
                }
                seen_expected = true;
            }
        }
        if !page.has_next {
            break;
        }
        after = page.items.last().map(|e| e.id);
    }
    if !seen_expected {
        let expected = expected.expect("checked above");
        return Ok(broken(
            expected.id,
            format!(
                "the exported head {expected} is gone: the chain was cut after entry {}",
                head.id
            ),
            entries,
            &head,
        ));
    }
    let stored = store
        .audit_head()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the audit head: {e:?}"))?;
    if stored != head {
        return Ok(broken(
            head.id + 1,
            format!("the stored head is {stored} but the chain ends at {head}"),
            entries,
            &head,
        ));
    }
    Ok(Verdict {
        entries,
        head,
        broken: None,
    })
}
