//! The `sportello` binary itself: configuration errors, the demo start-up, SIGTERM.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sportello() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sportello"));
    // Start from a clean slate: no inherited SPORTELLO_* settings.
    for (key, _) in std::env::vars() {
        if key.starts_with("SPORTELLO_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[test]
fn help_lists_the_commands() {
    let out = sportello().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for word in ["serve", "sandbox", "migrate", "settings", "--config"] {
        assert!(text.contains(word), "{word} missing from --help:\n{text}");
    }
}

#[test]
fn a_bad_setting_names_its_variable_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = sportello()
        .current_dir(dir.path())
        .arg("serve")
        .env("SPORTELLO_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("SPORTELLO_LISTEN"), "{err}");
}

#[test]
fn migrate_then_status() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/m.db", dir.path().display());
    let out = sportello()
        .args(["migrate"])
        .env("SPORTELLO_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every migration this binary knows, whatever their numbers.
    let all: Vec<i64> = sportello::db::migrate::MIGRATIONS
        .iter()
        .map(|m| m.version)
        .collect();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains(&format!("applied migrations {all:?}"))
    );
    let out = sportello()
        .args(["migrate", "--status"])
        .env("SPORTELLO_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("pending: []")
    );
}

/// With no configuration at all, `serve` creates ./data/sportello.db, becomes ready, and stops
/// cleanly on SIGTERM.
#[test]
fn the_demo_starts_with_no_configuration_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sandbox_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = sportello()
        .current_dir(dir.path())
        .arg("serve")
        // The ports are the only thing we change: everything else is the demo default.
        .env("SPORTELLO_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "SPORTELLO_SANDBOX_LISTEN",
            format!("127.0.0.1:{sandbox_port}"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ready = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await {
                return Some(r.status().as_u16());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    });
    assert_eq!(ready, Some(200));
    assert!(dir.path().join("data/sportello.db").exists());
    // The demo starts the sandbox too.
    let sandbox = rt.block_on(async {
        reqwest::get(format!("http://127.0.0.1:{sandbox_port}/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        sandbox.contains("SANDBOX – nessun pagamento reale"),
        "{sandbox}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "sportello did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(exit.success(), "exit {exit:?}: {err}");
    assert!(err.contains("SIGTERM received"), "{err}");
    assert!(err.contains("stopped"), "{err}");
    // The demo prints its documented development API key.
    assert!(err.contains("sportello-demo-key"), "{err}");
}
