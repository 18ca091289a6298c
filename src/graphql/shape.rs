//! The schema's shape, read once from its SDL, and what it lets us do with a
//! request's document that async-graphql does not: settle an answer as the
//! GraphQL specification lays it out.
//!
//! async-graphql resolves an object's fields concurrently and writes each into
//! the answer as it completes, so two fields that wait on the store or a partner
//! came back in either order; and a field whose resolver failed was left out of
//! its object instead of standing there as `null`. [`Shape::settle`] walks the
//! answer beside the selection sets that asked for it: every object's fields in
//! the order the query asked for them (fragments in place, a repeated key where
//! it first appears), a failed field `null` at its error's path, and a `null`
//! where the schema promises a value made the `null` of the nearest nullable
//! field above it, as the specification's error propagation asks.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, FragmentDefinition, Selection, SelectionSet, Type,
    TypeSystemDefinition,
};
use async_graphql::{Name, PathSegment, Positioned, Response, Value};

/// What the schema's types hold: for each object and interface type, its
/// fields.
#[derive(Debug, Default)]
pub struct Shape {
    fields: HashMap<String, HashMap<String, Field>>,
    /// The interfaces each object type implements.
    implements: HashMap<String, Vec<String>>,
}

/// A field of an object or interface type.
#[derive(Debug)]
pub struct Field {
    pub ty: Type,
    /// The names of its arguments.
    pub arguments: Vec<String>,
}

impl Field {
    pub fn takes(&self, argument: &str) -> bool {
        self.arguments.iter().any(|name| name == argument)
    }
}

impl Shape {
    /// Reads the shape of the schema whose SDL is `sdl`.
    pub fn of(sdl: &str) -> Self {
        use async_graphql::parser::types::TypeKind;
        let document =
            async_graphql::parser::parse_schema(sdl).expect("the SDL async-graphql writes parses");
        let mut fields = HashMap::new();
        let mut implements = HashMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let ty = ty.node;
            let defined = match ty.kind {
                TypeKind::Object(object) => {
                    implements.insert(
                        ty.name.node.to_string(),
                        object
                            .implements
                            .iter()
                            .map(|name| name.node.to_string())
                            .collect(),
                    );
                    object.fields
                }
                TypeKind::Interface(interface) => interface.fields,
                _ => continue,
            };
            fields.insert(
                ty.name.node.to_string(),
                defined
                    .into_iter()
                    .map(|field| {
                        let field = field.node;
                        let arguments = field
                            .arguments
                            .iter()
                            .map(|argument| argument.node.name.node.to_string())
                            .collect();
                        let ty = field.ty.node;
                        (field.name.node.to_string(), Field { ty, arguments })
                    })
                    .collect(),
            );
        }
        Self { fields, implements }
    }

    /// Whether every value of type `ty` is also of type `condition`: the
    /// same type, or an interface it implements.
    pub fn within(&self, ty: &str, condition: &str) -> bool {
        ty == condition
            || self
                .implements
                .get(ty)
                .is_some_and(|interfaces| interfaces.iter().any(|i| i == condition))
    }

    /// The field `field` of the type `parent`, if the schema has it.
    pub fn field(&self, parent: Option<&str>, field: &str) -> Option<&Field> {
        self.fields.get(parent?)?.get(field)
    }

    /// Settles `response`, the answer to `operation` of `document` whose root
    /// type is `root`: fields in the query's order, failed fields `null`, and
    /// `null`s propagated where the schema promises a value.
    pub fn settle<'a>(
        &'a self,
        response: &'a mut Response,
        document: &'a ExecutableDocument,
        set: &'a SelectionSet,
        root: &'a str,
    ) {
        let Response { data, errors, .. } = response;
        let failed: HashSet<Vec<Segment<'a>>> = errors
            .iter()
            .filter(|error| !error.path.is_empty())
            .map(|error| error.path.iter().map(Segment::from).collect())
            .collect();
        match data {
            Value::Object(_) => {}
            // Every root field failed: async-graphql left them all out.
            Value::Null if !failed.is_empty() => *data = Value::Object(Default::default()),
            _ => return,
        }
        let mut walk = Walk {
            shape: self,
            fragments: &document.fragments,
            failed,
            path: Vec::new(),
        };
        if walk.failed.is_empty() {
            walk.order(data, &[set]);
        } else {
            let asked = walk.asked(&[set], Some(root));
            walk.object(data, &asked);
        }
    }
}

/// One walk of an answer beside its query.
struct Walk<'a> {
    shape: &'a Shape,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    /// The paths of failed fields; empty when nothing failed, and then the
    /// schema's types are not looked up at all.
    failed: HashSet<Vec<Segment<'a>>>,
    path: Vec<Segment<'a>>,
}

/// A step of a path into the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Segment<'a> {
    Field(&'a str),
    Index(usize),
}

impl<'a> From<&'a PathSegment> for Segment<'a> {
    fn from(segment: &'a PathSegment) -> Self {
        match segment {
            PathSegment::Field(name) => Segment::Field(name),
            PathSegment::Index(index) => Segment::Index(*index),
        }
    }
}

/// A response key the selection sets ask for, in order, with every selection
/// set below it (a key asked twice merges both).
struct Asked<'a> {
    key: &'a Name,
    name: &'a Name,
    /// The type the field was selected on: the enclosing type, or a fragment's
    /// type condition.
    on: Option<&'a str>,
    /// Empty for a leaf, so that a leaf costs no allocation.
    below: Vec<&'a SelectionSet>,
}

impl<'a> Walk<'a> {
    /// Puts every object of `value` (asked for by `sets`) in the order asked,
    /// when nothing failed: no type is looked up, no list of what was asked
    /// is built unless an object is out of order, and a child's selections
    /// are gathered only for objects and lists.
    fn order(&mut self, value: &mut Value, sets: &[&'a SelectionSet]) {
        match value {
            Value::Object(map) => {
                if !self.in_order(map, sets) {
                    let asked = self.asked(sets, None);
                    self.object(value, &asked);
                    return;
                }
                for (key, child) in map.iter_mut() {
                    if matches!(child, Value::Object(_) | Value::List(_)) {
                        let below = self.below(sets, key);
                        self.order(child, &below);
                    }
                }
            }
            Value::List(items) => {
                for item in items {
                    self.order(item, sets);
                }
            }
            _ => {}
        }
    }

    /// Whether `map`'s keys come in the order `sets` ask for them.
    fn in_order(
        &self,
        map: &async_graphql::indexmap::IndexMap<Name, Value>,
        sets: &[&'a SelectionSet],
    ) -> bool {
        let mut keys = map.keys().peekable();
        for set in sets {
            self.follow(set, &mut |key| {
                if keys.peek() == Some(&key) {
                    keys.next();
                }
            });
        }
        keys.peek().is_none()
    }

    /// The selections `sets` make below the response key `key`.
    fn below(&self, sets: &[&'a SelectionSet], key: &Name) -> Vec<&'a SelectionSet> {
        let mut below = Vec::new();
        for set in sets {
            self.fields(set, 0, &mut |field| {
                if field.response_key().node == *key && !field.selection_set.node.items.is_empty() {
                    below.push(&field.selection_set.node);
                }
            });
        }
        below
    }

    /// Calls `each` with the response key of every field `set` selects, in
    /// order, fragments in place.
    fn follow(&self, set: &'a SelectionSet, each: &mut impl FnMut(&'a Name)) {
        self.fields(set, 0, &mut |field| each(&field.response_key().node));
    }

    /// Calls `each` with every field `set` selects, in order, fragments in
    /// place (to a depth that only a cycle, which validation refuses, passes).
    fn fields(
        &self,
        set: &'a SelectionSet,
        depth: usize,
        each: &mut impl FnMut(&'a async_graphql::parser::types::Field),
    ) {
        if depth > 32 {
            return;
        }
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => each(&field.node),
                Selection::InlineFragment(fragment) => {
                    self.fields(&fragment.node.selection_set.node, depth + 1, each);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = self.fragments.get(&spread.node.fragment_name.node) {
                        self.fields(&fragment.node.selection_set.node, depth + 1, each);
                    }
                }
            }
        }
    }

    /// Settles `value`, of type `ty` (if known), asked for by `sets`.
    fn value(&mut self, value: &mut Value, ty: Option<&'a Type>, sets: &[&'a SelectionSet]) {
        match value {
            Value::Object(_) => {
                let asked = self.asked(sets, ty.and_then(named));
                self.object(value, &asked);
            }
            Value::List(items) => {
                let item_ty = ty.and_then(|ty| match &ty.base {
                    BaseType::List(item) => Some(item.as_ref()),
                    BaseType::Named(_) => None,
                });
                // Every item of a list was asked for by the same sets.
                let asked = items
                    .iter()
                    .any(|item| matches!(item, Value::Object(_)))
                    .then(|| self.asked(sets, item_ty.and_then(named)));
                for (index, item) in items.iter_mut().enumerate() {
                    self.path.push(Segment::Index(index));
                    match (item, &asked) {
                        (item @ Value::Object(_), Some(asked)) => self.object(item, asked),
                        (item @ Value::List(_), _) => self.value(item, item_ty, sets),
                        _ => {}
                    }
                    self.path.pop();
                }
                if !self.failed.is_empty()
                    && item_ty.is_some_and(|ty| !ty.nullable)
                    && items.iter().any(|item| matches!(item, Value::Null))
                {
                    *value = Value::Null;
                }
            }
            _ => {}
        }
    }

    /// Settles one object, asked for as `asked`.
    fn object(&mut self, value: &mut Value, asked: &[Asked<'a>]) {
        let Value::Object(map) = value else {
            return;
        };
        // In order: its keys are a subsequence of those asked.
        let mut rest = asked.iter();
        let in_order =
            self.failed.is_empty() && map.keys().all(|key| rest.any(|asked| asked.key == key));
        let mut settled = if in_order {
            std::mem::take(map)
        } else {
            let mut old = std::mem::take(map);
            let mut settled = async_graphql::indexmap::IndexMap::with_capacity(old.len());
            for asked in asked {
                if let Some(value) = old.shift_remove(asked.key) {
                    settled.insert(asked.key.clone(), value);
                } else if !self.failed.is_empty() && self.failed_here(asked.key) {
                    settled.insert(asked.key.clone(), Value::Null);
                }
            }
            // Nothing should be left; if something is, it goes last rather
            // than nowhere.
            settled.extend(old);
            settled
        };
        let mut null = false;
        for asked in asked {
            let Some(field) = settled.get_mut(asked.key) else {
                continue;
            };
            if matches!(field, Value::Object(_) | Value::List(_)) || !self.failed.is_empty() {
                let ty = if self.failed.is_empty() {
                    None
                } else {
                    self.shape
                        .field(asked.on, asked.name)
                        .map(|field| &field.ty)
                };
                self.path.push(Segment::Field(asked.key.as_str()));
                self.value(field, ty, &asked.below);
                self.path.pop();
                null |= matches!(field, Value::Null) && ty.is_some_and(|ty| !ty.nullable);
            }
        }
        *value = if null {
            Value::Null
        } else {
            Value::Object(settled)
        };
    }

    /// Whether the field `key` of the object at the current path failed.
    fn failed_here(&mut self, key: &'a Name) -> bool {
        self.path.push(Segment::Field(key.as_str()));
        let failed = self.failed.contains(self.path.as_slice());
        self.path.pop();
        failed
    }

    /// The response keys `sets` ask for on an object of type `on`, in order.
    fn asked(&self, sets: &[&'a SelectionSet], on: Option<&'a str>) -> Vec<Asked<'a>> {
        let mut asked = Vec::with_capacity(sets.iter().map(|set| set.items.len()).sum());
        let mut spread = Vec::new();
        for set in sets {
            self.collect(set, on, &mut asked, &mut spread);
        }
        asked
    }

    fn collect(
        &self,
        set: &'a SelectionSet,
        on: Option<&'a str>,
        asked: &mut Vec<Asked<'a>>,
        spread: &mut Vec<&'a Name>,
    ) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let key = &field.response_key().node;
                    let below = &field.selection_set.node;
                    let below = (!below.items.is_empty()).then_some(below);
                    match asked.iter_mut().find(|a: &&mut Asked<'a>| a.key == key) {
                        Some(known) => known.below.extend(below),
                        None => asked.push(Asked {
                            key,
                            name: &field.name.node,
                            on,
                            below: below.into_iter().collect(),
                        }),
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let fragment = &fragment.node;
                    let on = fragment
                        .type_condition
                        .as_ref()
                        .map_or(on, |condition| Some(condition.node.on.node.as_str()));
                    self.collect(&fragment.selection_set.node, on, asked, spread);
                }
                Selection::FragmentSpread(name) => {
                    let name = &name.node.fragment_name.node;
                    // A fragment spread twice at one level adds nothing the
                    // second time (and a cycle, which validation refuses,
                    // ends here).
                    if spread.contains(&name) {
                        continue;
                    }
                    spread.push(name);
                    if let Some(fragment) = self.fragments.get(name) {
                        let fragment = &fragment.node;
                        let on = Some(fragment.type_condition.node.on.node.as_str());
                        self.collect(&fragment.selection_set.node, on, asked, spread);
                    }
                }
            }
        }
    }
}

/// The named type at the bottom of `ty`.
pub fn named(ty: &Type) -> Option<&str> {
    match &ty.base {
        BaseType::Named(name) => Some(name.as_str()),
        BaseType::List(item) => named(item),
    }
}

#[cfg(test)]
mod tests {
    use super::Shape;
    use async_graphql::{PathSegment, Response, ServerError, Value};
    use serde_json::json;

    const SDL: &str = "
        type Query { a: A  b: A!  list: [A!]  items: [A] }
        type A { x: Int!  y: Int  inner: A }
    ";

    /// Settles `data` as the answer to `query`, whose failed fields are at
    /// `failed`; the answer's data, as JSON.
    fn settled(query: &str, data: serde_json::Value, failed: &[&str]) -> serde_json::Value {
        let shape = Shape::of(SDL);
        let document = async_graphql::parser::parse_query(query).unwrap();
        let (_, operation) = document.operations.iter().next().unwrap();
        let mut response = Response::new(Value::from_json(data).unwrap());
        response.errors = failed
            .iter()
            .map(|path| {
                let mut error = ServerError::new("failed", None);
                error.path = path
                    .split('.')
                    .map(|segment| match segment.parse() {
                        Ok(index) => PathSegment::Index(index),
                        Err(_) => PathSegment::Field(segment.to_owned()),
                    })
                    .collect();
                error
            })
            .collect();
        shape.settle(
            &mut response,
            &document,
            &operation.node.selection_set.node,
            "Query",
        );
        response.data.into_json().unwrap()
    }

    fn keys(value: &serde_json::Value) -> Vec<&str> {
        value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn fields_come_in_the_order_asked_fragments_in_place() {
        let data = json!({ "b": { "y": 2, "x": 1 }, "z": { "x": 3 }, "a": { "y": 4, "x": 5 } });
        let answer = settled(
            "{ a { x y } ...F z: a { x } } fragment F on Query { b { x y } }",
            data,
            &[],
        );
        assert_eq!(keys(&answer), ["a", "b", "z"]);
        assert_eq!(keys(&answer["a"]), ["x", "y"]);
        assert_eq!(keys(&answer["b"]), ["x", "y"]);
        // A key asked again merges its selections where it first stood.
        let data = json!({ "a": { "y": 4, "inner": null, "x": 5 } });
        let answer = settled("{ a { y } a { inner { x } x } }", data, &[]);
        assert_eq!(keys(&answer["a"]), ["y", "inner", "x"]);
    }

    #[test]
    fn a_failed_nullable_field_is_null_where_it_was_asked() {
        let answer = settled("{ a { x y } }", json!({ "a": { "x": 1 } }), &["a.y"]);
        assert_eq!(answer, json!({ "a": { "x": 1, "y": null } }));
        assert_eq!(keys(&answer["a"]), ["x", "y"]);
        // Every root field failed: async-graphql answered no data at all.
        let answer = settled("{ a { x } items { x } }", json!(null), &["a", "items"]);
        assert_eq!(answer, json!({ "a": null, "items": null }));
    }

    #[test]
    fn a_failed_field_that_may_not_be_null_nulls_the_nearest_nullable_one() {
        let answer = settled("{ a { x y } }", json!({ "a": { "y": 2 } }), &["a.x"]);
        assert_eq!(answer, json!({ "a": null }));
        let answer = settled(
            "{ a { inner { x } y } }",
            json!({ "a": { "inner": { }, "y": 2 } }),
            &["a.inner.x"],
        );
        assert_eq!(answer, json!({ "a": { "inner": null, "y": 2 } }));
        // Through a list of values that may not be null, to the list.
        let answer = settled(
            "{ list { x } items { x } }",
            json!({ "list": [{ "x": 1 }, { }], "items": [{ "x": 1 }, { }] }),
            &["list.1.x", "items.1.x"],
        );
        assert_eq!(answer, json!({ "list": null, "items": [{ "x": 1 }, null] }));
        // A root field that may not be null: no data at all.
        let answer = settled(
            "{ a { y } b { x } }",
            json!({ "a": { "y": 1 }, "b": null }),
            &["b.x"],
        );
        assert_eq!(answer, json!(null));
    }
}
