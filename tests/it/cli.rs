//! The `caunoi` binary, as an operator runs it.

use std::process::Command;

fn caunoi(args: &[&str], state: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_caunoi"))
        .args(["--state-dir", state.to_str().unwrap()])
        .args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the caunoi binary runs")
}

#[test]
fn schema_prints_the_committed_contract_without_a_database() {
    let state = tempfile::tempdir().unwrap();
    let output = caunoi(&["schema"], state.path());
    assert!(output.status.success());
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(
        String::from_utf8(output.stdout).unwrap() == committed,
        "`caunoi schema` differs from schema.graphql"
    );
    assert_eq!(
        std::fs::read_dir(state.path()).unwrap().count(),
        0,
        "schema created state"
    );
}

#[test]
fn seed_then_demo_check_for_nghe_an() {
    let state = tempfile::tempdir().unwrap();
    let seeded = caunoi(&["--province", "40", "seed"], state.path());
    let stdout = String::from_utf8_lossy(&seeded.stdout);
    assert!(
        seeded.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    assert!(
        stdout.starts_with("Seeded province 40: 220 facilities"),
        "{stdout}"
    );
    assert!(state.path().join("40.sqlite").exists());

    let demo_state = tempfile::tempdir().unwrap();
    let demo = |run: &str| {
        let output = caunoi(
            &[
                "--province",
                "40",
                "demo",
                "--check",
                "--listen",
                "127.0.0.1:0",
            ],
            demo_state.path(),
        );
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{run} run: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!stdout.contains("WRONG ANSWER"), "{stdout}");
        stdout
    };
    let first = demo("first");
    assert!(
        first.contains("Seeded province 19") && first.contains("Seeded province 40"),
        "{first}"
    );
    assert!(
        first.contains("of province 19 valid today? (its owner answers)"),
        "{first}"
    );
    let second = demo("second");
    assert!(second.contains("Province 40 already has data"), "{second}");
    assert!(
        demo_state
            .path()
            .join("19")
            .join("pki")
            .join("dashboard.pem")
            .exists()
    );
}

#[test]
fn a_bad_configuration_is_refused_naming_the_key() {
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("caunoi.toml");
    std::fs::write(&file, "[province]\ncode = \"19\"\nnmae = \"Thái Nguyên\"\n").unwrap();
    let output = caunoi(
        &["--config", file.to_str().unwrap(), "migrate"],
        state.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nmae"), "{stderr}");

    let output = caunoi(&["--province", "190", "migrate"], state.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("province.code"));
}

#[test]
fn audit_verify_and_head_speak_for_the_chain() {
    let state = tempfile::tempdir().unwrap();
    let head = caunoi(&["audit", "head"], state.path());
    assert!(head.status.success());
    let head = String::from_utf8(head.stdout).unwrap();
    assert_eq!(head.trim(), format!("0:{}", caunoi::domain::audit::GENESIS));
    let verify = caunoi(&["audit", "verify", "--expect", head.trim()], state.path());
    assert!(verify.status.success());
    assert!(String::from_utf8_lossy(&verify.stdout).contains("intact: 0 entries"));
    let missing = format!("5:{}", "ab".repeat(32));
    let verify = caunoi(&["audit", "verify", "--expect", &missing], state.path());
    assert_eq!(verify.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("BROKEN at entry 5"));
}

#[test]
fn sync_without_once_points_to_the_scheduler() {
    let state = tempfile::tempdir().unwrap();
    let output = caunoi(&["sync"], state.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("caunoi sync --once"));
    // With no partner configured, one pass has nothing to do.
    let once = caunoi(&["sync", "--once"], state.path());
    assert!(
        once.status.success(),
        "{}",
        String::from_utf8_lossy(&once.stderr)
    );
}

/// `caunoi config check FILE` tells every problem of the file with its key,
/// not only the first, and exits 1; a good file is ok.
#[test]
fn config_check_names_every_problem_with_its_key() {
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("caunoi.toml");
    std::fs::write(
        &file,
        "[province]\ncode = \"4O\"\n\
         [limits]\ndepth = \"deep\"\n\
         [tls]\nhandshake_timout = \"10s\"\n\
         [[partners]]\nprovince = \"40\"\nca = \"/nowhere/ca.pem\"\nendpoint = \"http://x\"\n\
         [federation]\nsync_page = 5000\n",
    )
    .unwrap();
    let output = caunoi(&["config", "check", file.to_str().unwrap()], state.path());
    assert_eq!(output.status.code(), Some(1));
    let said = String::from_utf8_lossy(&output.stdout);
    for key in ["limits.depth", "tls", "handshake_timout"] {
        assert!(said.contains(key), "{key} not named in:\n{said}");
    }
    for line in said.lines() {
        assert!(line.starts_with(file.to_str().unwrap()), "{line}");
    }
    // Once the sections read, what the types cannot catch, all of it.
    std::fs::write(
        &file,
        "[province]\ncode = \"4O\"\n\
         [[partners]]\nprovince = \"40\"\nca = \"/nowhere/ca.pem\"\nendpoint = \"http://x\"\n\
         [federation]\nsync_page = 5000\n",
    )
    .unwrap();
    let output = caunoi(&["config", "check", file.to_str().unwrap()], state.path());
    assert_eq!(output.status.code(), Some(1));
    let said = String::from_utf8_lossy(&output.stdout);
    for key in [
        "province.code",
        "partners[0].endpoint",
        "partners[0].ca",
        "federation.sync_page",
    ] {
        assert!(
            said.contains(&format!(": {key}: ")),
            "{key} not named in:\n{said}"
        );
    }
    std::fs::write(&file, "[province]\ncode = \"40\"\nname = \"Nghệ An\"\n").unwrap();
    let output = caunoi(&["config", "check", file.to_str().unwrap()], state.path());
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).ends_with(": ok\n"));
}

/// `caunoi healthcheck` exits 0 only when the gateway's `/readyz` says ready.
#[tokio::test]
async fn healthcheck_exits_zero_only_when_the_gateway_is_ready() {
    let gw = crate::helpers::spawn_gateway().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ready = listener.local_addr().unwrap();
    tokio::spawn(gw.app.clone().run_ops(listener, std::future::pending()));
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = nobody.local_addr().unwrap();
    drop(nobody);
    for (address, healthy) in [(ready, true), (closed, false)] {
        let state = tempfile::tempdir().unwrap();
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_caunoi"))
            .args(["--state-dir", state.path().to_str().unwrap(), "healthcheck"])
            .env("CAUNOI_OPS_LISTEN", address.to_string())
            .env_remove("DATABASE_URL")
            .output()
            .await
            .unwrap();
        assert_eq!(
            output.status.success(),
            healthy,
            "{address}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}
