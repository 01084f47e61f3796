//! Bootstrap Italia's files (stylesheet, script, icons, web fonts) and the TrueType faces the
//! PDFs embed: carried by the binary (embedded at build time by `build.rs` from the npm
//! package) or, when `assets_dir` is set, read from that directory once at start-up.
//!
//! Either way every file is in memory before the server accepts a request: a missing or
//! unreadable file stops start-up with an error naming the setting, never a 404 or a 500 later.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use sha2::{Digest, Sha256};

/// One file of Bootstrap Italia's `dist/` folder that Sportello uses.
#[derive(Debug)]
pub struct AssetFile {
    /// Path under `dist/` (and under `/static/bi/`).
    pub path: &'static str,
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// The bytes embedded at build time, if the npm package was there.
    pub embedded: Option<&'static [u8]>,
}

// `EMBEDDED_VERSION` and `FILES`, written by build.rs.
include!(concat!(env!("OUT_DIR"), "/bootstrap_italia.rs"));

/// The regular face of Titillium Web the PDFs embed, under `dist/`.
pub const PDF_REGULAR: &str = "fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-regular.ttf";
/// The semibold face of Titillium Web the PDFs embed, under `dist/`.
pub const PDF_BOLD: &str = "fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-600.ttf";

/// The setting that overrides the embedded copy, as `sportello settings` names it.
const SETTING: &str = "assets_dir (SPORTELLO_ASSETS_DIR)";

/// Why the assets are not usable: always names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    /// `assets_dir` is set and one of the files is missing or unreadable there.
    #[error(
        "{SETTING} = {dir:?}: cannot read {file}: {reason} (point it at Bootstrap Italia's dist folder, e.g. node_modules/bootstrap-italia/dist, or unset it to use the copy built into the binary)"
    )]
    Unreadable {
        /// The configured directory.
        dir: PathBuf,
        /// The file that failed.
        file: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// `assets_dir` is not set and this binary was built without the npm package.
    #[error(
        "{SETTING} is not set and this binary carries no Bootstrap Italia assets (node_modules/bootstrap-italia was missing when it was built): set assets_dir to a copy of bootstrap-italia/dist, or run `npm ci` and rebuild"
    )]
    NotEmbedded,
}

/// One file ready to serve.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The content.
    pub bytes: Bytes,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// A strong validator derived from the content (quoted, as the header carries it).
    pub etag: String,
}

/// Where the assets came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetsSource {
    /// Built into the binary from the npm package of this version.
    Embedded(&'static str),
    /// Read at start-up from `assets_dir`.
    Directory(PathBuf),
}

/// Every asset, in memory.
#[derive(Debug)]
pub struct Assets {
    files: HashMap<&'static str, Asset>,
    source: AssetsSource,
}

impl Assets {
    /// The assets of `assets_dir` when it is set, the embedded ones otherwise.
    pub fn load(assets_dir: Option<&Path>) -> Result<Assets, AssetsError> {
        match assets_dir {
            Some(dir) => Assets::from_dir(dir),
            None => Assets::embedded(),
        }
    }

    /// The copy built into the binary.
    pub fn embedded() -> Result<Assets, AssetsError> {
        let version = EMBEDDED_VERSION.ok_or(AssetsError::NotEmbedded)?;
        let files = FILES
            .iter()
            .map(|f| {
                let bytes = f.embedded.ok_or(AssetsError::NotEmbedded)?;
                Ok((f.path, asset(Bytes::from_static(bytes), f.content_type)))
            })
            .collect::<Result<_, AssetsError>>()?;
        Ok(Assets {
            files,
            source: AssetsSource::Embedded(version),
        })
    }

    /// Every file read from `dir` (a copy of Bootstrap Italia's `dist/`).
    pub fn from_dir(dir: &Path) -> Result<Assets, AssetsError> {
        let files = FILES
            .iter()
            .map(|f| {
                let path = dir.join(f.path);
                let bytes = std::fs::read(&path).map_err(|e| AssetsError::Unreadable {
                    dir: dir.to_path_buf(),
                    file: path.clone(),
                    reason: e.to_string(),
                })?;
                Ok((f.path, asset(Bytes::from(bytes), f.content_type)))
            })
            .collect::<Result<_, AssetsError>>()?;
        Ok(Assets {
            files,
            source: AssetsSource::Directory(dir.to_path_buf()),
        })
    }

    /// The file at `path` under `dist/`.
    pub fn get(&self, path: &str) -> Option<&Asset> {
        self.files.get(path)
    }

    /// Where they came from.
    pub fn source(&self) -> &AssetsSource {
        &self.source
    }

    /// How many files there are.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are none (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Whether every file Sportello uses is there.
    pub fn complete(&self) -> bool {
        FILES.iter().all(|f| self.files.contains_key(f.path))
    }
}

fn asset(bytes: Bytes, content_type: &'static str) -> Asset {
    let digest = Sha256::digest(&bytes);
    let etag = format!(
        "\"{}\"",
        digest[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    Asset {
        bytes,
        content_type,
        etag,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_copy_is_complete() {
        let assets = Assets::embedded().expect("built after npm ci");
        assert!(assets.complete());
        assert_eq!(assets.len(), FILES.len());
        let css = assets.get("css/bootstrap-italia.min.css").unwrap();
        assert_eq!(css.content_type, "text/css; charset=utf-8");
        assert!(css.bytes.len() > 100_000);
        assert!(css.etag.starts_with('"') && css.etag.ends_with('"'));
        assert!(assets.get(PDF_REGULAR).is_some() && assets.get(PDF_BOLD).is_some());
        assert!(assets.get("../Cargo.toml").is_none());
    }

    #[test]
    fn a_directory_missing_a_file_names_the_setting_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = Assets::from_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("assets_dir"), "{err}");
        assert!(err.contains("SPORTELLO_ASSETS_DIR"), "{err}");
        assert!(err.contains("css/bootstrap-italia.min.css"), "{err}");
    }

    #[test]
    fn a_directory_copy_is_served_like_the_embedded_one() {
        let dir = tempfile::tempdir().unwrap();
        for f in FILES {
            let path = dir.path().join(f.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, f.path.as_bytes()).unwrap();
        }
        let assets = Assets::from_dir(dir.path()).unwrap();
        assert!(assets.complete());
        assert_eq!(
            assets.source(),
            &AssetsSource::Directory(dir.path().to_path_buf())
        );
        let a = assets.get("svg/sprites.svg").unwrap();
        assert_eq!(&a.bytes[..], b"svg/sprites.svg");
        assert_eq!(a.content_type, "image/svg+xml");
        assert_ne!(
            a.etag,
            assets.get("css/bootstrap-italia.min.css").unwrap().etag
        );
    }
}
