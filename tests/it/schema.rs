//! The committed contract matches the code.

#[test]
fn committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql is committed at the project root");
    let current = caunoi::graphql::sdl();
    assert!(
        committed == current,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql` and commit it"
    );
}

#[test]
fn the_schema_speaks_the_domain() {
    let sdl = caunoi::graphql::sdl();
    for needle in [
        "verifyCertificate(number: String!, on: Date): CertificateVerification",
        "interface Node",
        "scalar ProvinceCode",
        "enum InvalidReason",
        "NOT_YET_ISSUED",
        "ISO_22000",
    ] {
        assert!(sdl.contains(needle), "the schema lacks `{needle}`");
    }
}
