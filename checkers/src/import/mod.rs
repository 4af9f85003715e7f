//! Reading histories from files: faultline's own `history.jsonl`, Jepsen's
//! `history.edn`, and the two Porcupine reference formats.
//!
//! [`read_any`] reads a file in a given format, or tells the format from the
//! file's name and first line. Every importer reports a malformed op as
//! `file:line: what is wrong` and tolerates a truncated last op with a warning.

pub mod edn;
pub mod jepsen;
pub mod porcupine;

use crate::history::History;
use crate::jsonl;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// faultline's `history.jsonl`.
    Jsonl,
    /// Jepsen's `history.edn`.
    JepsenEdn,
    /// Porcupine's etcd logs (`INFO jepsen.util - ...` lines).
    PorcupineEtcd,
    /// Porcupine's kv logs (one EDN map with a `:key` a line).
    PorcupineKv,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::Jsonl,
        Format::JepsenEdn,
        Format::PorcupineEtcd,
        Format::PorcupineKv,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::JepsenEdn => "jepsen-edn",
            Format::PorcupineEtcd => "porcupine-etcd",
            Format::PorcupineKv => "porcupine-kv",
        }
    }

    /// The linearizability model a history of this format is checked against
    /// when nothing else says (formats that fix their data type).
    pub fn default_model(self) -> Option<crate::models::ModelKind> {
        use crate::models::ModelKind;
        match self {
            Format::PorcupineEtcd => Some(ModelKind::CasRegister),
            Format::PorcupineKv => Some(ModelKind::AppendRegister),
            Format::Jsonl | Format::JepsenEdn => None,
        }
    }

    /// Whether a read completing with null tells nothing about the state
    /// (Jepsen's convention) rather than "unset" (faultline's and etcd's).
    pub fn nil_read_is_unknown(self) -> bool {
        self == Format::JepsenEdn
    }

    /// Tells the format from the file name, then from the first non-blank line.
    pub fn sniff(path: &Path, text: &str) -> Option<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl") => return Some(Format::Jsonl),
            Some("edn") => return Some(Format::JepsenEdn),
            _ => {}
        }
        let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
        if first.contains("jepsen.util - ") {
            Some(Format::PorcupineEtcd)
        } else if first.starts_with("{\"") || first.starts_with("{ \"") {
            Some(Format::Jsonl)
        } else if first.starts_with("{:") && first.contains(":key ") {
            Some(Format::PorcupineKv)
        } else if first.starts_with('{') || first.starts_with('[') || first.starts_with('#') {
            Some(Format::JepsenEdn)
        } else {
            None
        }
    }
}

crate::named_kind!(Format, "format", "formats");

/// Why a history file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: cannot tell the history's format; pass --format (jsonl, jepsen-edn, porcupine-etcd, porcupine-kv)")]
    UnknownFormat { path: PathBuf },
}

impl ImportError {
    pub fn malformed(path: &Path, line: usize, message: impl Into<String>) -> Self {
        ImportError::Malformed {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl From<jsonl::ReadError> for ImportError {
    fn from(e: jsonl::ReadError) -> Self {
        match e {
            jsonl::ReadError::Io { path, source } => ImportError::Io { path, source },
            jsonl::ReadError::Malformed {
                path,
                line,
                message,
            } => ImportError::Malformed {
                path,
                line,
                message,
            },
        }
    }
}

/// A history read from a file, the format it was in, and any warnings.
#[derive(Debug)]
pub struct ReadOutcome {
    pub history: History,
    pub format: Format,
    pub warnings: Vec<String>,
}

/// Reads the history in `path`, in `format` or the format the file looks like.
pub fn read_any(path: &Path, format: Option<Format>) -> Result<ReadOutcome, ImportError> {
    let format = format_of(path, format)?;
    read_as(path, format)
}

/// The format of the file at `path`: `format` if given, else told from its
/// name and first lines.
pub fn format_of(path: &Path, format: Option<Format>) -> Result<Format, ImportError> {
    let io_error = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    Ok(match format {
        Some(f) => f,
        None => {
            // The name or the first lines tell the format.
            let mut head = Vec::with_capacity(SNIFF_BYTES);
            File::open(path)
                .and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head))
                .map_err(io_error)?;
            let head = String::from_utf8_lossy(&head);
            match Format::sniff(path, &head) {
                Some(f) => f,
                None if head.trim().is_empty() => Format::Jsonl,
                None => {
                    return Err(ImportError::UnknownFormat {
                        path: path.to_path_buf(),
                    })
                }
            }
        }
    })
}

fn read_as(path: &Path, format: Format) -> Result<ReadOutcome, ImportError> {
    let (history, warnings) = match format {
        Format::Jsonl => {
            // Streamed: faultline's own histories can be millions of lines.
            let out = jsonl::read_file(path)?;
            (out.history, out.warnings)
        }
        Format::JepsenEdn => jepsen::parse(&read_text(path)?, path)?,
        Format::PorcupineEtcd => porcupine::parse_etcd(&read_text(path)?, path)?,
        Format::PorcupineKv => porcupine::parse_kv(&read_text(path)?, path)?,
    };
    Ok(ReadOutcome {
        history,
        format,
        warnings,
    })
}

/// How much of a file is read to tell its format.
const SNIFF_BYTES: usize = 64 * 1024;

/// The whole file as text; invalid UTF-8 is an error naming its line.
fn read_text(path: &Path) -> Result<String, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        ImportError::malformed(path, line, "the text is not valid UTF-8")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        (dir, path)
    }

    #[test]
    fn sniffs_each_format() {
        let cases = [
            ("h.jsonl", "{:type :ok}", Format::Jsonl),
            ("h.edn", "{\"a\":1}", Format::JepsenEdn),
            ("h.txt", "\n{\"index\":0}", Format::Jsonl),
            (
                "e.log",
                "INFO  jepsen.util - 1 :invoke :read nil",
                Format::PorcupineEtcd,
            ),
            (
                "c.txt",
                "{:process 0, :type :invoke, :f :get, :key \"5\", :value nil}",
                Format::PorcupineKv,
            ),
            (
                "h",
                "{:process 0, :type :invoke, :f :read, :value nil}",
                Format::JepsenEdn,
            ),
            ("h", "[{:process 0}]", Format::JepsenEdn),
        ];
        for (name, text, want) in cases {
            assert_eq!(
                Format::sniff(Path::new(name), text),
                Some(want),
                "{name}: {text}"
            );
        }
        assert_eq!(Format::sniff(Path::new("x.csv"), "a,b,c"), None);
    }

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
        }
        assert!("edn".parse::<Format>().unwrap_err().contains("jepsen-edn"));
    }

    #[test]
    fn read_any_reads_each_format_from_disk() {
        let (_d, p) = file(
            "history.jsonl",
            "{\"index\":0,\"type\":\"invoke\",\"process\":1,\"f\":\"read\"}\n",
        );
        let out = read_any(&p, None).unwrap();
        assert_eq!((out.format, out.history.len()), (Format::Jsonl, 1));

        let (_d, p) = file("history.edn", "{:type :invoke, :f :read, :process 0}\n");
        let out = read_any(&p, None).unwrap();
        assert_eq!((out.format, out.history.len()), (Format::JepsenEdn, 1));
        assert!(out.format.nil_read_is_unknown());

        let (_d, p) = file("x", "INFO  jepsen.util - 1 :invoke :read nil\n");
        let out = read_any(&p, Some(Format::PorcupineEtcd)).unwrap();
        assert_eq!(
            out.format.default_model(),
            Some(crate::models::ModelKind::CasRegister)
        );
    }

    #[test]
    fn read_any_errors_say_where_and_what() {
        let (_d, p) = file("data.csv", "a,b,c\n");
        let e = read_any(&p, None).unwrap_err().to_string();
        assert!(e.contains("cannot tell the history's format"), "{e}");

        let (_d, p) = file("h.edn", "{:type :ok, :f :read, :process 0}\n:oops\n{}\n");
        let e = read_any(&p, None).unwrap_err().to_string();
        assert!(
            e.ends_with("h.edn:2: expected an op map, found a keyword `:oops`"),
            "{e}"
        );

        let (_d, p) = file("h.jsonl", "{\"index\":0}\n{}\n");
        let e = read_any(&p, None).unwrap_err().to_string();
        assert!(e.contains("h.jsonl:1: "), "{e}");

        let missing = Path::new("/nonexistent/history.jsonl");
        assert!(matches!(
            read_any(missing, None),
            Err(ImportError::Io { .. })
        ));

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bin.edn");
        std::fs::write(&p, b"{}\n\xff\xfe").unwrap();
        let e = read_any(&p, None).unwrap_err().to_string();
        assert!(e.contains("bin.edn:2: the text is not valid UTF-8"), "{e}");
    }
}
