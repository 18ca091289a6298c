//! The modules of `src/` use one another without a cycle, at every level: the
//! crate's top-level modules among themselves, and the files of each directory
//! among themselves. A directory's `mod.rs` is its face: it may use its files,
//! and they may use it. A reference counts where the item it names is defined,
//! through `pub use` re-exports; test code does not count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use syn::visit::{self, Visit};

/// A module's path in the crate: `["graphql", "cost"]`; the crate root is `[]`.
type Module = Vec<String>;

#[test]
fn the_modules_of_src_use_one_another_without_a_cycle() {
    let sources = read_crate(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(
        sources.len() > 40 && sources.contains_key(&path("graphql::cost")),
        "the crate was not read: {:?}",
        sources.keys().collect::<Vec<_>>()
    );
    let edges = edges(&sources);
    assert!(
        edges[&path("app")].contains(&path("graphql")),
        "references were not found"
    );
    let mut found = Vec::new();
    for directory in sources.keys() {
        for cycle in cycles(directory, &edges) {
            found.push((directory.join("::"), cycle));
        }
    }
    assert_eq!(
        found,
        Vec::new(),
        "cycles between modules (directory, files in one cycle)"
    );
}

/// A cycle found where there is none: the check can fail.
#[test]
fn a_cycle_between_two_files_is_found() {
    let sources = BTreeMap::from([
        (Vec::new(), parsed("mod a; mod b;")),
        (path("a"), parsed("use crate::b::B; pub struct A;")),
        (path("b"), parsed("pub struct B(crate::a::A);")),
    ]);
    assert_eq!(
        cycles(&Vec::new(), &edges(&sources)),
        vec![BTreeSet::from(["a".to_owned(), "b".to_owned()])]
    );
    // Through a re-export of the face, and test code aside.
    let sources = BTreeMap::from([
        (path("d"), parsed("mod a; mod b; pub use a::A;")),
        (
            path("d::a"),
            parsed("pub struct A; #[cfg(test)] mod t { use super::super::b::B; }"),
        ),
        (path("d::b"), parsed("pub struct B(super::A);")),
    ]);
    assert_eq!(
        cycles(&path("d"), &edges(&sources)),
        Vec::<BTreeSet<String>>::new()
    );
    let sources = BTreeMap::from([
        (path("d"), parsed("mod a; mod b; pub use a::A;")),
        (path("d::a"), parsed("pub struct A(super::b::B);")),
        (path("d::b"), parsed("pub struct B(Box<super::A>);")),
    ]);
    assert_eq!(cycles(&path("d"), &edges(&sources)).len(), 1);
}

fn path(text: &str) -> Module {
    text.split("::").map(str::to_owned).collect()
}

fn parsed(text: &str) -> Source {
    Source::of(&syn::parse_file(text).expect("the example parses"))
}

/// What one file says: the names it re-exports (`pub use`), with the paths
/// they stand for, and every path it uses, as written.
struct Source {
    reexports: BTreeMap<String, Vec<String>>,
    uses: Vec<Vec<String>>,
}

impl Source {
    fn of(file: &syn::File) -> Self {
        let mut reader = Reader {
            reexports: BTreeMap::new(),
            uses: Vec::new(),
            top: true,
        };
        reader.visit_file(file);
        Self {
            reexports: reader.reexports,
            uses: reader.uses,
        }
    }
}

/// Every `.rs` file under `src/` but the binary's `main.rs`, by module.
fn read_crate(src: &Path) -> BTreeMap<Module, Source> {
    let mut sources = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).expect("src/ reads") {
            let file = entry.expect("src/ reads").path();
            if file.is_dir() {
                pending.push(file);
                continue;
            }
            if file.extension().is_none_or(|e| e != "rs") || file == src.join("main.rs") {
                continue;
            }
            let relative = file
                .strip_prefix(src)
                .expect("under src/")
                .with_extension("");
            let mut module: Module = relative
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if module
                .last()
                .is_some_and(|last| last == "mod" || last == "lib")
            {
                module.pop();
            }
            let text = std::fs::read_to_string(&file).expect("a source file reads");
            let parsed = syn::parse_file(&text)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
            sources.insert(module, Source::of(&parsed));
        }
    }
    sources
}

/// Collects a file's `use` trees and paths, test code aside.
struct Reader {
    reexports: BTreeMap<String, Vec<String>>,
    uses: Vec<Vec<String>>,
    /// Whether the item visited is at the file's top level.
    top: bool,
}

impl<'a> Visit<'a> for Reader {
    fn visit_item(&mut self, item: &'a syn::Item) {
        if for_tests(item) {
            return;
        }
        let top = std::mem::replace(&mut self.top, false);
        match item {
            syn::Item::Use(used) if top && !matches!(used.vis, syn::Visibility::Inherited) => {
                let mut paths = Vec::new();
                flatten(&used.tree, Vec::new(), &mut paths);
                for (path, name) in paths {
                    self.reexports.insert(name, path);
                }
            }
            syn::Item::Use(used) => {
                let mut paths = Vec::new();
                flatten(&used.tree, Vec::new(), &mut paths);
                self.uses.extend(paths.into_iter().map(|(path, _)| path));
            }
            _ => visit::visit_item(self, item),
        }
        self.top = top;
    }

    fn visit_path(&mut self, path: &'a syn::Path) {
        if path.segments.len() > 1 && path.leading_colon.is_none() {
            self.uses
                .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        visit::visit_path(self, path);
    }
}

/// Whether an item is compiled for tests only.
fn for_tests(item: &syn::Item) -> bool {
    let attributes = match item {
        syn::Item::Mod(item) => &item.attrs,
        syn::Item::Fn(item) => &item.attrs,
        syn::Item::Impl(item) => &item.attrs,
        syn::Item::Use(item) => &item.attrs,
        syn::Item::Struct(item) => &item.attrs,
        syn::Item::Enum(item) => &item.attrs,
        syn::Item::Const(item) => &item.attrs,
        _ => return false,
    };
    attributes.iter().any(|attribute| {
        attribute.path().is_ident("cfg")
            && matches!(&attribute.meta, syn::Meta::List(list) if list.tokens.to_string() == "test")
    })
}

/// The paths a `use` tree names, each with the name it brings in.
fn flatten(tree: &syn::UseTree, prefix: Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    let with = |name: String| {
        let mut path = prefix.clone();
        path.push(name);
        path
    };
    match tree {
        syn::UseTree::Path(step) => flatten(&step.tree, with(step.ident.to_string()), out),
        syn::UseTree::Name(name) if name.ident == "self" => {
            let name = prefix.last().cloned().unwrap_or_default();
            out.push((prefix.clone(), name));
        }
        syn::UseTree::Name(name) => {
            out.push((with(name.ident.to_string()), name.ident.to_string()))
        }
        syn::UseTree::Rename(rename) => {
            out.push((with(rename.ident.to_string()), rename.rename.to_string()))
        }
        syn::UseTree::Glob(_) => out.push((prefix.clone(), "*".to_owned())),
        syn::UseTree::Group(group) => {
            for tree in &group.items {
                flatten(tree, prefix.clone(), out);
            }
        }
    }
}

/// Which module uses which, each reference counted where its item is defined.
fn edges(sources: &BTreeMap<Module, Source>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, source) in sources {
        let targets = edges.entry(module.clone()).or_default();
        for used in &source.uses {
            if let Some(target) = absolute(module, used, sources)
                .and_then(|path| defined_in(&path, sources, 0))
                .filter(|target| target != module)
            {
                targets.insert(target);
            }
        }
    }
    edges
}

/// A path as seen from the crate root; `None` for another crate's.
fn absolute(
    module: &Module,
    path: &[String],
    sources: &BTreeMap<Module, Source>,
) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    match first.as_str() {
        "crate" => Some(rest.to_vec()),
        "self" => Some([module.as_slice(), rest].concat()),
        "super" => {
            let mut base = module.clone();
            base.pop()?;
            let mut rest = rest;
            while let Some(("super", further)) = rest.split_first().map(|(s, r)| (s.as_str(), r)) {
                base.pop()?;
                rest = further;
            }
            Some([base.as_slice(), rest].concat())
        }
        child => {
            let mut inner = module.clone();
            inner.push(child.to_owned());
            sources
                .contains_key(&inner)
                .then(|| [module.as_slice(), path].concat())
        }
    }
}

/// The module that defines what `path` names: the longest module it starts
/// with, or, where the next name is one that module re-exports, the module
/// that defines that.
fn defined_in(path: &[String], sources: &BTreeMap<Module, Source>, hops: usize) -> Option<Module> {
    let length = (0..=path.len())
        .rev()
        .find(|n| sources.contains_key(&path[..*n]))?;
    let module = path[..length].to_vec();
    if let Some(name) = path.get(length)
        && let Some(target) = sources[&module].reexports.get(name)
        && hops < 8
        && let Some(target) = absolute(&module, target, sources)
    {
        let further = [target.as_slice(), &path[length + 1..]].concat();
        return defined_in(&further, sources, hops + 1).or(Some(module));
    }
    Some(module)
}

/// The cycles among the files (and subdirectories) of `directory`: each a set
/// of their names, the directory's own face aside.
fn cycles(directory: &Module, edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<BTreeSet<String>> {
    // The part of `directory` a module lies in, if it lies strictly inside.
    let part = |module: &Module| {
        (module.len() > directory.len() && module.starts_with(directory))
            .then(|| module[directory.len()].clone())
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in edges {
        let Some(from) = part(from) else { continue };
        graph.entry(from.clone()).or_default();
        for to in targets.iter().filter_map(&part) {
            if to != from {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    // Everything each part reaches, then the parts that reach one another.
    let mut reach = graph.clone();
    loop {
        let mut grown = false;
        for node in graph.keys() {
            let further: BTreeSet<String> = reach[node]
                .iter()
                .flat_map(|next| reach.get(next).cloned().unwrap_or_default())
                .collect();
            let set = reach.get_mut(node).expect("every part is a key");
            let before = set.len();
            set.extend(further);
            grown |= set.len() > before;
        }
        if !grown {
            break;
        }
    }
    let mut cycles: Vec<BTreeSet<String>> = Vec::new();
    for node in graph.keys().filter(|node| reach[*node].contains(*node)) {
        let cycle: BTreeSet<String> = reach[node]
            .iter()
            .filter(|other| reach[*other].contains(node))
            .cloned()
            .collect();
        if !cycles.contains(&cycle) {
            cycles.push(cycle);
        }
    }
    cycles
}
