//! Kinds chosen by name (`--workload`, `--nemesis`, `--checker`, ...): one
//! macro gives each its list of names, `Display` and `FromStr`.

/// For an enum with `ALL` (every variant, a slice or an array) and
/// `fn name(self) -> &'static str`, defines `names()` (every name, comma
/// separated, for messages), `Display` (the name) and `FromStr` (by name; an
/// unknown one is an error that lists the known ones):
/// `named_kind!(CheckerKind, "checker", "checkers")`.
#[macro_export]
macro_rules! named_kind {
    ($ty:ty, $what:literal, $plural:literal) => {
        impl $ty {
            /// Every name, for messages.
            pub fn names() -> String {
                Self::ALL
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|k| k.name() == s)
                    .ok_or_else(|| {
                        format!(
                            concat!("unknown ", $what, " {:?}; ", $plural, ": {}"),
                            s,
                            Self::names()
                        )
                    })
            }
        }
    };
}
