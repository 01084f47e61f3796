//! The `sportello` binary itself: configuration errors, the demo start-up, SIGTERM, and the
//! assets it carries (it runs from any directory).

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `sportello serve` started in `dir` with nothing but free ports (and `env`) changed from the
/// demo defaults: the child and the portal's port.
fn serve_in(dir: &std::path::Path, env: &[(&str, &str)]) -> (std::process::Child, u16) {
    let port = free_port();
    let mut cmd = sportello();
    cmd.current_dir(dir)
        .arg("serve")
        .env("SPORTELLO_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "SPORTELLO_SANDBOX_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd.spawn().unwrap(), port)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The status of `/readyz` once the portal answers, None if it never does within 30 s.
fn readiness(rt: &tokio::runtime::Runtime, port: u16) -> Option<u16> {
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await {
                return Some(r.status().as_u16());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    })
}

/// Sends SIGTERM and returns the exit status and what the process wrote on stderr.
fn stop(mut child: std::process::Child) -> (std::process::ExitStatus, String) {
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
    (exit, err)
}

/// With no configuration at all, `serve` creates ./data/sportello.db, becomes ready, and stops
/// cleanly on SIGTERM.
#[test]
fn the_demo_starts_with_no_configuration_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox_port = free_port();
    let sandbox_listen = format!("127.0.0.1:{sandbox_port}");
    // The ports are the only thing we change: everything else is the demo default.
    let (child, port) = serve_in(dir.path(), &[("SPORTELLO_SANDBOX_LISTEN", &sandbox_listen)]);
    let rt = runtime();
    assert_eq!(readiness(&rt, port), Some(200));
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
    let (exit, err) = stop(child);
    assert!(exit.success(), "exit {exit:?}: {err}");
    assert!(err.contains("SIGTERM received"), "{err}");
    assert!(err.contains("stopped"), "{err}");
    // The demo prints its documented development API key.
    assert!(err.contains("sportello-demo-key"), "{err}");
}

/// Started in an empty directory (no node_modules, no templates, no static folder beside it),
/// the binary serves Bootstrap Italia's stylesheet and fonts from its own copy and prints notices
/// with the fonts it carries.
#[test]
fn the_binary_runs_from_an_empty_directory_with_its_own_assets() {
    let dir = tempfile::tempdir().unwrap();
    let (child, port) = serve_in(dir.path(), &[]);
    let rt = runtime();
    assert_eq!(readiness(&rt, port), Some(200));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let checks = rt.block_on(async {
        let ready: serde_json::Value = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready["assets"]["status"], "ok", "{ready}");
        assert_eq!(ready["assets"]["source"], "embedded", "{ready}");

        let home = client.get(format!("{base}/")).send().await.unwrap();
        let html = home.text().await.unwrap();
        assert!(
            html.contains("/static/bi/css/bootstrap-italia.min.css"),
            "{html}"
        );
        let css = client
            .get(format!("{base}/static/bi/css/bootstrap-italia.min.css"))
            .send()
            .await
            .unwrap();
        assert_eq!(css.status(), 200);
        assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
        assert!(css.headers().contains_key("etag"));
        assert!(css.text().await.unwrap().contains(".it-header-wrapper"));
        let font = client
            .get(format!(
                "{base}/static/bi/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-regular.woff2"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(font.status(), 200);
        assert_eq!(font.headers()["content-type"], "font/woff2");
        assert!(font.bytes().await.unwrap().starts_with(b"wOF2"));

        // A debt position through the API (the demo key), then its notice.
        let positions = format!(
            "{base}/gpd/debt-positions-service/v1/organizations/00229080338/debtpositions"
        );
        let nav = common::publish_position(&client, &base, "BIN-1", 12345).await;
        let pdf = client
            .get(format!("{positions}/BIN-1/notice.pdf"))
            .header("Ocp-Apim-Subscription-Key", "sportello-demo-key")
            .send()
            .await
            .unwrap();
        assert_eq!(pdf.status(), 200);
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
        (nav, pdf.bytes().await.unwrap())
    });
    let (nav, pdf) = checks;
    assert!(pdf.starts_with(b"%PDF-"));
    let pdf_path = dir.path().join("avviso.pdf");
    std::fs::write(&pdf_path, &pdf).unwrap();
    let text = Command::new("pdftotext")
        .arg(&pdf_path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils; scripts/test installs it)");
    let text = String::from_utf8(text.stdout).unwrap();
    let grouped = pagopa::NoticeNumber::parse(&nav).unwrap().grouped();
    assert!(text.contains(&grouped), "{grouped} not in:\n{text}");
    let fonts = Command::new("pdffonts").arg(&pdf_path).output().unwrap();
    assert!(
        String::from_utf8(fonts.stdout)
            .unwrap()
            .contains("TitilliumWeb"),
        "the notice embeds Titillium Web"
    );
    let (exit, err) = stop(child);
    assert!(exit.success(), "exit {exit:?}: {err}");
}

/// An `assets_dir` that does not hold Bootstrap Italia stops start-up with a message naming the
/// setting: never a portal that answers /readyz while its pages have no stylesheet.
#[test]
fn a_bad_assets_dir_stops_start_up_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no-bootstrap-italia-here");
    std::fs::create_dir(&empty).unwrap();
    let (mut child, port) = serve_in(
        dir.path(),
        &[("SPORTELLO_ASSETS_DIR", empty.to_str().unwrap())],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "sportello did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!exit.success(), "{err}");
    assert!(err.contains("SPORTELLO_ASSETS_DIR"), "{err}");
    assert!(err.contains("assets_dir"), "{err}");
    assert!(err.contains("css/bootstrap-italia.min.css"), "{err}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens"
    );
    assert!(
        !dir.path().join("data").exists(),
        "it stopped before touching the database"
    );
}

/// A production deployment whose station is open (no key, no address list) refuses to start,
/// naming both settings: open, anyone could mark positions paid and read debtors' data.
#[test]
fn production_refuses_an_open_station() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = sportello()
        .current_dir(dir.path())
        .arg("serve")
        .env("SPORTELLO_MODE", "production")
        .env("SPORTELLO_LISTEN", format!("127.0.0.1:{port}"))
        .env("SPORTELLO_PUBLIC_URL", "https://pagamenti.example.it")
        .env(
            "SPORTELLO_DATABASE_URL",
            format!("sqlite://{}/p.db", dir.path().display()),
        )
        .env("SPORTELLO_SMTP_URL", "smtp://127.0.0.1:25")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    for name in [
        "station.api_key",
        "station.allowed_ips",
        "SPORTELLO_STATION_API_KEY",
        "SPORTELLO_STATION_ALLOWED_IPS",
    ] {
        assert!(err.contains(name), "{name} not named: {err}");
    }
    assert!(!dir.path().join("p.db").exists(), "nothing was started");
}

/// `check-config` shows the effective settings without the secrets in them.
#[test]
fn check_config_redacts_secrets() {
    let out = sportello()
        .arg("check-config")
        .env("SPORTELLO_MODE", "production")
        .env("SPORTELLO_PUBLIC_URL", "https://pagamenti.example.it")
        .env(
            "SPORTELLO_DATABASE_URL",
            "postgres://sportello:db-password-1@db.example.it/sportello",
        )
        .env(
            "SPORTELLO_SMTP_URL",
            "smtps://mailer:smtp-password-1@mail.example.it",
        )
        .env("SPORTELLO_STATION_API_KEY", "station-key-secret-1")
        .env("SPORTELLO_API_KEYS", "api-key-secret-123456")
        .env("SPORTELLO_CHECKOUT_API_KEY", "checkout-key-secret-1")
        .env(
            "SPORTELLO_BACKOFFICE_SECRET_KEY",
            "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2",
        )
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in [
        "db-password-1",
        "smtp-password-1",
        "station-key-secret-1",
        "api-key-secret-123456",
        "checkout-key-secret-1",
        "5ec2e75ec2e7",
    ] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    assert!(text.contains("db.example.it"), "the rest is shown: {text}");
    assert!(text.contains("[redatto]"), "{text}");
}

/// The demo (open station, development key, mailbox page) does not listen beyond loopback
/// unless told to.
#[test]
fn the_demo_refuses_a_public_address_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let out = sportello()
        .current_dir(dir.path())
        .arg("serve")
        .env("SPORTELLO_LISTEN", format!("0.0.0.0:{}", free_port()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("SPORTELLO_LISTEN"), "{err}");
    assert!(err.contains("SPORTELLO_DEMO_ALLOW_NON_LOOPBACK"), "{err}");
    assert!(!dir.path().join("data").exists(), "nothing was started");
}

/// `sportello operator add` prints the one-time password, the TOTP key, the otpauth URI and
/// its QR code; `sportello operator disable` disables; mistakes are refused with a reason.
#[test]
fn operators_are_added_and_disabled_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/ops.db", dir.path().display());
    let run = |args: &[&str]| {
        sportello()
            .args(args)
            .env("SPORTELLO_DATABASE_URL", &db)
            .env("SPORTELLO_DATA_DIR", dir.path())
            .output()
            .unwrap()
    };
    let out = run(&[
        "operator",
        "add",
        "--username",
        "vigile1",
        "--role",
        "operator",
        "--service",
        "multe",
        "--read-only",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("password iniziale (da cambiare al primo accesso): "),
        "{text}"
    );
    assert!(
        text.contains("otpauth://totp/Sportello%20Comune%20di%20Piacenza%3Avigile1?secret="),
        "{text}"
    );
    assert!(
        text.contains('▀') || text.contains('▄'),
        "a QR code drawn in the terminal:\n{text}"
    );
    let again = run(&[
        "operator",
        "add",
        "--username",
        "vigile1",
        "--role",
        "admin",
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("Esiste già un operatore"));
    let unknown = run(&[
        "operator",
        "add",
        "--username",
        "x123",
        "--role",
        "operator",
        "--service",
        "nessuno",
    ]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("Servizio sconosciuto: nessuno"));
    // Read-write on one service, read-only on another.
    let mixed = run(&[
        "operator",
        "add",
        "--username",
        "vigile2",
        "--role",
        "operator",
        "--service",
        "multe",
        "--read-service",
        "asilo_nido",
    ]);
    assert!(
        mixed.status.success(),
        "{}",
        String::from_utf8_lossy(&mixed.stderr)
    );
    let (first, second) = runtime().block_on(async {
        let store = sportello::store::Store::connect(&db).await.unwrap();
        let get = async |name: &str| store.operator_by_username(name).await.unwrap().unwrap();
        (get("vigile1").await, get("vigile2").await)
    });
    assert_eq!(
        first.read_only_services,
        vec!["multe".to_owned()],
        "--read-only: every service"
    );
    assert_eq!(
        (second.services, second.read_only_services),
        (
            vec!["asilo_nido".to_owned(), "multe".to_owned()],
            vec!["asilo_nido".to_owned()]
        )
    );
    let off = run(&["operator", "disable", "vigile1"]);
    assert!(off.status.success());
    assert!(String::from_utf8_lossy(&off.stdout).contains("operatore vigile1 disattivato"));
    let twice = run(&["operator", "disable", "vigile1"]);
    assert!(!twice.status.success());
}
