//! Embeds the Bootstrap Italia files the pages and the PDFs use, from the npm package
//! (`node_modules/bootstrap-italia/dist`, installed by `npm ci`; never committed), so the binary
//! runs from any directory.
//!
//! It writes `$OUT_DIR/bootstrap_italia.rs`: the list of files (path under `dist/`, content type)
//! with `include_bytes!` of each, and the package's version. When the package is absent at build
//! time (a fresh clone before `npm ci`), the build still succeeds with a warning and the list
//! carries no bytes: such a binary refuses to start unless `assets_dir` points at a copy of
//! `bootstrap-italia/dist` (see `src/assets.rs`).

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// Every file of `dist/` Sportello uses, with its content type. `src/assets.rs` serves them under
/// `/static/bi/` and the PDFs embed the two TrueType faces.
///
/// Not Bootstrap Italia's script: the pages use none of its components (they work without
/// JavaScript), and at load it injects inline `<style>` elements (video.js), which the pages'
/// Content-Security-Policy (`style-src 'self'`) refuses.
const FILES: &[(&str, &str)] = &[
    ("css/bootstrap-italia.min.css", "text/css; charset=utf-8"),
    ("svg/sprites.svg", "image/svg+xml"),
    // The faces static/app.css declares: the stylesheet names them but leaves @font-face to the
    // site (Bootstrap Italia's own loader is a script writing an inline <style>).
    (
        "fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-300.woff2",
        "font/woff2",
    ),
    (
        "fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-300italic.woff2",
        "font/woff2",
    ),
    (
        "fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-regular.woff2",
        "font/woff2",
    ),
    (
        "fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-italic.woff2",
        "font/woff2",
    ),
    (
        "fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-600.woff2",
        "font/woff2",
    ),
    (
        "fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-600italic.woff2",
        "font/woff2",
    ),
    (
        "fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-700.woff2",
        "font/woff2",
    ),
    (
        "fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-700italic.woff2",
        "font/woff2",
    ),
    (
        "fonts/Lora/lora-v20-latin-ext_latin-regular.woff2",
        "font/woff2",
    ),
    (
        "fonts/Lora/lora-v20-latin-ext_latin-italic.woff2",
        "font/woff2",
    ),
    (
        "fonts/Lora/lora-v20-latin-ext_latin-700.woff2",
        "font/woff2",
    ),
    (
        "fonts/Roboto_Mono/roboto-mono-v13-latin-ext_latin-regular.woff2",
        "font/woff2",
    ),
    (
        "fonts/Roboto_Mono/roboto-mono-v13-latin-ext_latin-700.woff2",
        "font/woff2",
    ),
    // The PDFs embed these two.
    (
        "fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-regular.ttf",
        "font/ttf",
    ),
    (
        "fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-600.ttf",
        "font/ttf",
    ),
];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let package = manifest.join("../../node_modules/bootstrap-italia");
    let dist = package.join("dist");
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("bootstrap_italia.rs");
    println!("cargo:rerun-if-changed=build.rs");
    // npm rewrites its hidden lockfile on every install: a later `npm ci` (CI lints before it
    // installs) makes cargo embed the files. While it is absent cargo reruns this script on
    // every build.
    println!(
        "cargo:rerun-if-changed={}",
        manifest
            .join("../../node_modules/.package-lock.json")
            .display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        package.join("package.json").display()
    );

    let version = package_version(&package.join("package.json"));
    let mut code = String::new();
    match version {
        Some(version) => {
            let _ = writeln!(
                code,
                "pub const EMBEDDED_VERSION: Option<&str> = Some({version:?});"
            );
            code.push_str("pub static FILES: &[AssetFile] = &[\n");
            for (path, content_type) in FILES {
                let file = dist.join(path);
                let file = file.canonicalize().unwrap_or_else(|e| {
                    panic!(
                        "Bootstrap Italia {version} has no {}: {e}. Run `npm ci`.",
                        file.display()
                    )
                });
                println!("cargo:rerun-if-changed={}", file.display());
                let _ = writeln!(
                    code,
                    "    AssetFile {{ path: {path:?}, content_type: {content_type:?}, embedded: Some(include_bytes!({:?})) }},",
                    file.display().to_string()
                );
            }
        }
        None => {
            println!(
                "cargo:warning=node_modules/bootstrap-italia is missing: this sportello binary embeds no assets and will start only with assets_dir set. Run `npm ci` and rebuild."
            );
            code.push_str("pub const EMBEDDED_VERSION: Option<&str> = None;\n");
            code.push_str("pub static FILES: &[AssetFile] = &[\n");
            for (path, content_type) in FILES {
                let _ = writeln!(
                    code,
                    "    AssetFile {{ path: {path:?}, content_type: {content_type:?}, embedded: None }},"
                );
            }
        }
    }
    code.push_str("];\n");
    fs::write(&out, code).expect("write the asset table");
}

/// The `version` of the npm package, or None when it is not installed.
fn package_version(package_json: &Path) -> Option<String> {
    let text = fs::read_to_string(package_json).ok()?;
    // A tiny scan instead of a JSON dependency: `"version": "2.18.3"` at the top level is the
    // first one in npm's package.json.
    let start = text.find("\"version\"")?;
    let rest = &text[start + "\"version\"".len()..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let version = &rest[..rest.find('"')?];
    version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        .then(|| version.to_owned())
}
