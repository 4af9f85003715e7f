//! Files of the store over HTTP: only files inside the store, whatever the
//! request path says (no `..`, no symlink out of it).

use std::path::{Component, Path, PathBuf};

/// Why a file cannot be served.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The path leaves the store (`..`, an absolute path, a symlink out).
    Escapes,
    NotFound,
}

/// The file at `rel` inside `store`, canonical, if it exists and is inside it.
pub fn resolve(store: &Path, rel: &str) -> Result<PathBuf, Refused> {
    let rel_path = Path::new(rel);
    if rel_path
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(Refused::Escapes);
    }
    let root = store.canonicalize().map_err(|_| Refused::NotFound)?;
    let full = root
        .join(rel_path)
        .canonicalize()
        .map_err(|_| Refused::NotFound)?;
    if !full.starts_with(&root) {
        return Err(Refused::Escapes);
    }
    Ok(full)
}

/// The Content-Type for a file by its extension. Logs and histories are
/// shown as text in the browser.
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "png" => "image/png",
        "css" => "text/css",
        "gz" | "zst" | "tar" | "bin" => "application/octet-stream",
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes_and_symlinks_out() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        std::fs::create_dir_all(store.join("t/r")).unwrap();
        std::fs::write(store.join("t/r/history.jsonl"), "").unwrap();
        std::fs::write(tmp.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret"), store.join("t/r/link")).unwrap();
        assert!(resolve(&store, "t/r/history.jsonl").is_ok());
        assert_eq!(resolve(&store, "../secret"), Err(Refused::Escapes));
        assert_eq!(resolve(&store, "t/../../secret"), Err(Refused::Escapes));
        assert_eq!(resolve(&store, "/etc/passwd"), Err(Refused::Escapes));
        assert_eq!(resolve(&store, "t/r/link"), Err(Refused::Escapes));
        assert_eq!(resolve(&store, "t/r/missing"), Err(Refused::NotFound));
    }
}
