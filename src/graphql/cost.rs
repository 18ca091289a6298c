//! What a request would cost, judged from its document before any resolver
//! runs, and the limits it must keep.
//!
//! A field costs one, and what is below a list costs as many times as the list
//! may hold: `first` (or the largest page when it is absent), the number of
//! `ids`. A field asked twice — repeated, aliased, or in two fragments — costs
//! twice, since async-graphql resolves each. Where a selection branches on the
//! type of an interface's value (`... on Certificate`, `... on Facility`), the
//! dearest branch counts, as each value takes one. Counted so, five hundred
//! repeats of a 100-item page cost what they would do, where a count of one per
//! field had let them through while they took a gateway's memory.
//!
//! Depth is the deepest nesting of fields. Introspection (`__schema`, `__type`)
//! costs our own callers nothing and has no depth: it reads the schema, not
//! the store, and the standard introspection query GraphiQL and code generators
//! send nests its type references deeper than any real query. Partners have no
//! introspection.
//!
//! A list with a `scope` other than `LOCAL` asks every partner; each such list
//! of a request that federates counts as one call to each partner.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Value, Variables};

use super::shape::{Shape, named};

/// The most records any list may hold on one page: `first` is counted up to
/// this, a larger one being refused by the field itself.
const LARGEST_PAGE: u64 = crate::store::MAX_FEED_PAGE;

/// What one request would cost.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// The deepest nesting of fields, introspection aside.
    pub depth: usize,
    /// Fields resolved at most: each field once, times the size of every list
    /// above it.
    pub fields: u64,
    /// Lists that ask every partner.
    pub fan_outs: u64,
}

impl Cost {
    fn add(&mut self, other: Cost) {
        self.depth = self.depth.max(other.depth);
        self.fields = self.fields.saturating_add(other.fields);
        self.fan_outs = self.fan_outs.saturating_add(other.fan_outs);
    }

    fn max(&mut self, other: Cost) {
        self.depth = self.depth.max(other.depth);
        self.fields = self.fields.max(other.fields);
        self.fan_outs = self.fan_outs.max(other.fan_outs);
    }
}

/// What a request of one kind of caller may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub depth: usize,
    pub fields: u64,
    /// Lists over every partner.
    pub partner_lists: u64,
}

/// A limit a request would break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// `QUERY_TOO_DEEP` or `QUERY_TOO_COMPLEX`.
    pub code: &'static str,
    /// Which limit, as `extensions.limit` names it.
    pub limit: &'static str,
    pub message: String,
}

impl Cost {
    /// The first limit of `limits` this cost breaks, if any.
    pub fn breach(&self, limits: &Limits) -> Option<Breach> {
        if self.depth > limits.depth {
            return Some(Breach {
                code: "QUERY_TOO_DEEP",
                limit: "depth",
                message: format!(
                    "the query nests fields {} deep; at most {} is allowed",
                    self.depth, limits.depth
                ),
            });
        }
        if self.fields > limits.fields {
            return Some(Breach {
                code: "QUERY_TOO_COMPLEX",
                limit: "complexity",
                message: format!(
                    "the query could resolve {} fields (each field once, times the page \
                     size of every list above it); at most {} are allowed",
                    self.fields, limits.fields
                ),
            });
        }
        if self.fan_outs > limits.partner_lists {
            return Some(Breach {
                code: "QUERY_TOO_COMPLEX",
                limit: "partnerLists",
                message: format!(
                    "the query lists every partner's records {} times; at most {} are \
                     allowed in one request",
                    self.fan_outs, limits.partner_lists
                ),
            });
        }
        None
    }
}

/// What `operation` of `document` would cost with `variables`, and whether
/// the cost depends on the variables (a page, the `ids` or a `scope` given by
/// one): a cost that does not is the text's, whatever the request. `internal`
/// says the caller is one of ours (introspection is free); `federates`, that
/// its lists over `scope` ask partners.
pub fn measure(
    shape: &Shape,
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    root: &str,
    variables: &Variables,
    internal: bool,
    federates: bool,
) -> (Cost, bool) {
    let defaults = operation
        .variable_definitions
        .iter()
        .filter_map(|definition| {
            let definition = &definition.node;
            Some((
                &definition.name.node,
                definition.default_value.as_ref()?.node.clone(),
            ))
        })
        .collect();
    let mut measure = Measure {
        shape,
        fragments: &document.fragments,
        variables,
        defaults,
        internal,
        federates,
        kept: HashMap::new(),
        open: HashSet::new(),
        varies: false,
    };
    let cost = measure.set(&operation.selection_set.node, Some(root));
    (cost, measure.varies)
}

struct Measure<'a> {
    shape: &'a Shape,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    variables: &'a Variables,
    defaults: HashMap<&'a Name, Value>,
    internal: bool,
    federates: bool,
    /// Each fragment's cost, measured once: a fragment spread in a fragment
    /// spread twice, ten times over, would otherwise be walked 2¹⁰ times.
    kept: HashMap<&'a Name, Cost>,
    /// Fragments being measured, so that a cycle (which validation refuses)
    /// ends.
    open: HashSet<&'a Name>,
    /// An argument the cost reads came from a variable.
    varies: bool,
}

impl<'a> Measure<'a> {
    /// The cost of `set` on a value of type `on`.
    fn set(&mut self, set: &'a SelectionSet, on: Option<&'a str>) -> Cost {
        let mut always = Cost::default();
        // What applies only to values of one type, by type: the dearest
        // counts, as a value is of one type.
        let mut branches: Vec<(&'a str, Cost)> = Vec::new();
        let shape = self.shape;
        let mut branch =
            |condition: Option<&'a str>, cost: Cost, always: &mut Cost| match (condition, on) {
                (Some(condition), Some(on)) if !shape.within(on, condition) => {
                    match branches.iter_mut().find(|(c, _)| *c == condition) {
                        Some((_, known)) => known.add(cost),
                        None => branches.push((condition, cost)),
                    }
                }
                _ => always.add(cost),
            };
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let cost = self.field(&field.node, on);
                    always.add(cost);
                }
                Selection::InlineFragment(fragment) => {
                    let fragment = &fragment.node;
                    let condition = fragment
                        .type_condition
                        .as_ref()
                        .map(|condition| condition.node.on.node.as_str());
                    let cost = self.set(&fragment.selection_set.node, condition.or(on));
                    branch(condition, cost, &mut always);
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    let Some(fragment) = self.fragments.get(name) else {
                        continue;
                    };
                    let condition = fragment.node.type_condition.node.on.node.as_str();
                    let cost = match self.kept.get(name) {
                        Some(cost) => *cost,
                        None if self.open.insert(name) => {
                            let cost = self.set(&fragment.node.selection_set.node, Some(condition));
                            self.open.remove(name);
                            self.kept.insert(name, cost);
                            cost
                        }
                        None => Cost::default(),
                    };
                    branch(Some(condition), cost, &mut always);
                }
            }
        }
        let mut dearest = Cost::default();
        for (_, cost) in branches {
            dearest.max(cost);
        }
        always.add(dearest);
        always
    }

    /// The cost of one field, selected on a value of type `on`.
    fn field(
        &mut self,
        field: &'a async_graphql::parser::types::Field,
        on: Option<&'a str>,
    ) -> Cost {
        let name = field.name.node.as_str();
        if name.starts_with("__") {
            if self.internal && name != "__typename" {
                return Cost::default();
            }
            return Cost {
                depth: 1,
                fields: 1,
                fan_outs: 0,
            };
        }
        let defined = self.shape.field(on, name);
        let below = self.set(
            &field.selection_set.node,
            defined.and_then(|defined| named(&defined.ty)),
        );
        let times = match defined {
            Some(defined) if defined.takes("first") => self
                .argument(field, "first")
                .and_then(|first| match first {
                    Value::Number(first) => first.as_i64(),
                    _ => None,
                })
                .map_or(crate::store::MAX_PAGE, |first| {
                    u64::try_from(first).unwrap_or(0).min(LARGEST_PAGE)
                }),
            Some(defined) if defined.takes("ids") => match self.argument(field, "ids") {
                Some(Value::List(ids)) => ids.len() as u64,
                Some(Value::Null) | None => 0,
                Some(_) => 1,
            },
            _ => 1,
        };
        let fans_out = self.federates
            && defined.is_some_and(|defined| defined.takes("scope"))
            && !matches!(
                self.argument(field, "scope"),
                Some(Value::Enum(scope)) if scope == "LOCAL"
            )
            && !matches!(
                self.argument(field, "scope"),
                Some(Value::String(scope)) if scope == "LOCAL"
            );
        Cost {
            depth: below.depth + 1,
            fields: times.saturating_mul(below.fields).saturating_add(1),
            fan_outs: times
                .saturating_mul(below.fan_outs)
                .saturating_add(u64::from(fans_out)),
        }
    }

    /// The value of `field`'s argument `name`, its variables read.
    fn argument(
        &mut self,
        field: &async_graphql::parser::types::Field,
        name: &str,
    ) -> Option<Value> {
        let (_, value) = field
            .arguments
            .iter()
            .find(|(argument, _)| argument.node == name)?;
        let (variables, defaults) = (self.variables, &self.defaults);
        let mut read = false;
        let value = value
            .node
            .clone()
            .into_const_with(|variable| {
                read = true;
                variables
                    .get(&variable)
                    .or_else(|| defaults.get(&variable))
                    .cloned()
                    .ok_or(())
            })
            .ok();
        self.varies |= read;
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(query: &str, variables: serde_json::Value, internal: bool) -> Cost {
        let shape = Shape::of(&crate::graphql::sdl());
        let document = async_graphql::parser::parse_query(query).unwrap();
        let (_, operation) = document.operations.iter().next().unwrap();
        measure(
            &shape,
            &document,
            &operation.node,
            "Query",
            &Variables::from_json(variables),
            internal,
            internal,
        )
        .0
    }

    #[test]
    fn a_list_costs_what_is_below_it_times_its_page() {
        let page = "{ certificates(first: 100) { edges { node { number status } } } }";
        // certificates + 100 × (edges + node + number + status)
        assert_eq!(cost(page, serde_json::json!({}), true).fields, 1 + 100 * 4);
        let absent = "{ certificates { edges { node { number } } } }";
        assert_eq!(
            cost(absent, serde_json::json!({}), true).fields,
            1 + 100 * 3,
            "no `first` counts the largest page"
        );
        let variable = "query($n: Int = 5) { certificates(first: $n) { edges { cursor } } }";
        assert_eq!(
            cost(variable, serde_json::json!({}), true).fields,
            1 + 5 * 2
        );
        assert_eq!(
            cost(variable, serde_json::json!({ "n": 50 }), true).fields,
            1 + 50 * 2
        );
        let nested = "{ facilities(first: 10) { edges { node { certificates(first: 20) { edges { cursor } } } } } }";
        assert_eq!(
            cost(nested, serde_json::json!({}), true).fields,
            1 + 10 * (2 + (1 + 20 * 2))
        );
        let nodes = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }";
        assert_eq!(
            cost(nodes, serde_json::json!({ "ids": ["a", "b", "c"] }), true).fields,
            1 + 3
        );
    }

    #[test]
    fn repeats_cost_each_time_and_type_branches_the_dearest() {
        let once = cost(
            "{ certificates(first: 100) { edges { node { number } } } }",
            serde_json::json!({}),
            true,
        );
        let repeated = format!(
            "{{ {} }}",
            "certificates(first: 100) { edges { node { number } } } ".repeat(550)
        );
        assert_eq!(
            cost(&repeated, serde_json::json!({}), true).fields,
            550 * once.fields
        );
        let branches = "{ node(id: \"x\") { id ... on Certificate { number status } ... on Facility { name } } }";
        assert_eq!(
            cost(branches, serde_json::json!({}), true).fields,
            1 + 1 + 2
        );
    }

    #[test]
    fn a_cost_that_reads_a_variable_says_so() {
        let shape = Shape::of(&crate::graphql::sdl());
        let varies = |query: &str| {
            let document = async_graphql::parser::parse_query(query).unwrap();
            let (_, operation) = document.operations.iter().next().unwrap();
            let variables = Variables::from_json(serde_json::json!({}));
            measure(
                &shape,
                &document,
                &operation.node,
                "Query",
                &variables,
                true,
                true,
            )
            .1
        };
        assert!(!varies(
            "query($n: String!) { certificate(number: $n) { number } }"
        ));
        assert!(!varies(
            "{ certificates(first: 5, scope: LOCAL) { edges { cursor } } }"
        ));
        assert!(varies(
            "query($f: Int) { certificates(first: $f) { edges { cursor } } }"
        ));
        assert!(varies(
            "query($s: Scope) { certificates(scope: $s) { edges { cursor } } }"
        ));
        assert!(varies("query($i: [ID!]!) { nodes(ids: $i) { id } }"));
    }

    #[test]
    fn introspection_is_free_for_our_own_callers_only() {
        let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }";
        assert_eq!(cost(deep, serde_json::json!({}), true), Cost::default());
        assert_eq!(cost(deep, serde_json::json!({}), false).depth, 1);
    }

    #[test]
    fn lists_over_partners_are_counted_when_the_request_federates() {
        let lists = "query($s: Scope) { a: certificates { edges { cursor } } b: facilities(scope: LOCAL) { edges { cursor } } c: products(scope: $s) { edges { cursor } } }";
        assert_eq!(
            cost(lists, serde_json::json!({ "s": "ALL" }), true).fan_outs,
            2
        );
        assert_eq!(
            cost(lists, serde_json::json!({ "s": "LOCAL" }), true).fan_outs,
            1
        );
        assert_eq!(cost(lists, serde_json::json!({}), false).fan_outs, 0);
    }

    /// A sync's page of a thousand records and a partner list's largest page
    /// stay well within a partner's limit.
    #[test]
    fn what_we_ask_of_partners_fits_their_limits() {
        use crate::federation::records;
        let limits = crate::graphql::request::limits_of(
            &crate::config::Limits::default(),
            crate::domain::Caller::Partner(crate::domain::ProvinceCode::parse("40").unwrap()),
        );
        // A page of the feed may name records of every kind.
        let ids: Vec<String> = (0..LARGEST_PAGE)
            .map(|i| format!("Certificate:40:{i}"))
            .collect();
        let every_kind = records::all_queries().remove(0);
        let mut asked = vec![(every_kind, serde_json::json!({ "ids": ids }))];
        for list in [
            records::facilities_query(),
            records::certificates_query(),
            records::products_query(),
            records::inspections_query(),
            records::alerts_query(),
            records::follow_ups_query(),
            records::lots_query(),
            records::trace_events_query(),
        ] {
            asked.push((list, serde_json::json!({ "first": crate::store::MAX_PAGE })));
        }
        asked.push((
            records::trace_level_query(),
            serde_json::json!({ "first": crate::store::MAX_PAGE, "withLots": true }),
        ));
        for (query, variables) in asked {
            let cost = cost(&query, variables, false);
            assert_eq!(cost.breach(&limits), None, "{query}");
            assert!(
                cost.fields * 4 / 3 < limits.fields,
                "{cost:?} leaves too little room: {query}"
            );
        }
    }

    #[test]
    fn a_fragment_spread_everywhere_is_measured_once() {
        let mut query = String::from("{ ...F20 } fragment F0 on Query { province { code } }");
        for i in 1..=20 {
            query.push_str(&format!(
                " fragment F{i} on Query {{ ...F{} ...F{} }}",
                i - 1,
                i - 1
            ));
        }
        assert_eq!(cost(&query, serde_json::json!({}), true).fields, 2 << 20);
    }
}
