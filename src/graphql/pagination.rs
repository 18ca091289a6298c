//! Relay-style cursor pagination shared by every list.
//!
//! A cursor is opaque to clients: today it wraps the last row id seen, versioned
//! so that the federation layer can later carry one position per province in it
//! without breaking cursors already handed out.

use async_graphql::SimpleObject;

use crate::access::{Paged, Sourced, read_row_cursor};
use crate::error::AppError;
use crate::store::{MAX_PAGE, Page, PageRequest};

/// Page size when `first` is not given.
pub const DEFAULT_PAGE: u64 = 20;

/// Where a page ends and whether more follow.
#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    /// The cursor to pass as `after` for the next page; null on an empty page.
    pub end_cursor: Option<String>,
}

/// A page of a list, assembled from its edges.
pub trait Connection: Sized {
    type Node;
    fn assemble(edges: Vec<(String, Self::Node)>, page_info: PageInfo) -> Self;
}

/// Defines the edge and connection types of one kind of node, beside it.
macro_rules! connection_types {
    ($node:ident, $edge:ident, $connection:ident) => {
        /// One item of a page and its cursor.
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        /// A page of a list.
        #[derive(async_graphql::SimpleObject)]
        pub struct $connection {
            pub edges: Vec<$edge>,
            pub page_info: super::pagination::PageInfo,
        }

        impl super::pagination::Connection for $connection {
            type Node = $node;
            fn assemble(
                edges: Vec<(String, $node)>,
                page_info: super::pagination::PageInfo,
            ) -> Self {
                Self {
                    edges: edges
                        .into_iter()
                        .map(|(cursor, node)| $edge { cursor, node })
                        .collect(),
                    page_info,
                }
            }
        }
    };
}

pub(super) use connection_types;

/// Reads `first` and `after` into a store request.
pub fn request(first: Option<i32>, after: Option<&str>) -> Result<PageRequest, AppError> {
    request_up_to(first, after, MAX_PAGE)
}

/// As [`request`], for a list whose pages may hold up to `max` items.
pub fn request_up_to(
    first: Option<i32>,
    after: Option<&str>,
    max: u64,
) -> Result<PageRequest, AppError> {
    let first = match first {
        None => DEFAULT_PAGE,
        Some(n) if n >= 0 && n as u64 <= max => n as u64,
        Some(n) => {
            return Err(AppError::invalid(
                "first",
                format!("{n} is outside 0 to {max}"),
            ));
        }
    };
    let after = after.map(read_row_cursor).transpose()?;
    Ok(PageRequest { after, first })
}

/// Builds a connection from a store page; `local` gives each item's row id.
pub fn connection<C: Connection, R>(
    page: Page<R>,
    local: impl Fn(&R) -> i64,
    wrap: impl Fn(R) -> C::Node,
) -> C {
    assemble(Paged::ours(page, local), |sourced| wrap(sourced.record))
}

/// A page of a list as a connection, each record wrapped by `wrap`.
pub fn assemble<C: Connection, R>(
    paged: Paged<R>,
    mut wrap: impl FnMut(Sourced<R>) -> C::Node,
) -> C {
    C::assemble(
        paged
            .edges
            .into_iter()
            .map(|(cursor, sourced)| (cursor, wrap(sourced)))
            .collect(),
        PageInfo {
            has_next_page: paged.has_next,
            end_cursor: paged.end_cursor,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(request(None, None).unwrap().first, DEFAULT_PAGE);
        assert_eq!(request(Some(100), None).unwrap().first, 100);
        assert!(request(Some(101), None).is_err());
        assert!(request(Some(-1), None).is_err());
    }
}
