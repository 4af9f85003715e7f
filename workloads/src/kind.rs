//! [`WorkloadKind`]: the workloads `--workload` accepts. The list itself is
//! in lib.rs, one line a workload, through the [`workloads!`] macro here.

use crate::WorkloadKind;

/// Declares each workload's module, [`WorkloadKind`] (clap lists and checks
/// it; serde writes the name into `test.json`) and [`WorkloadKind::build`].
macro_rules! workloads {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal => $module:ident :: $workload:ident,)*) => {
        $(pub mod $module;)*

        /// A workload by name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
        pub enum WorkloadKind {
            $($(#[doc = $doc])* #[serde(rename = $name)] #[cfg_attr(feature = "clap", value(name = $name))] $variant,)*
        }

        impl WorkloadKind {
            pub const ALL: &'static [WorkloadKind] = &[$(WorkloadKind::$variant),*];

            pub fn name(self) -> &'static str {
                match self {
                    $(WorkloadKind::$variant => $name,)*
                }
            }

            /// A fresh workload of this kind, for one run.
            pub fn build(self) -> std::sync::Arc<dyn $crate::Workload> {
                match self {
                    $(WorkloadKind::$variant => std::sync::Arc::new($module::$workload::default()),)*
                }
            }
        }
    };
}

faultline_checkers::named_kind!(WorkloadKind, "workload", "workloads");

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn every_kind_builds_a_workload_that_yields_ops_and_names_checkers() {
        for &kind in WorkloadKind::ALL {
            let w = kind.build();
            assert_eq!(w.kind(), kind);
            assert!(!w.checkers().is_empty(), "{kind}");
            let needs_model = w
                .checkers()
                .contains(&faultline_checkers::registry::CheckerKind::Linearizable);
            assert_eq!(needs_model, w.model().is_some(), "{kind}");
            let mut g = w.generator(1);
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            assert!(g.next(&mut rng).is_some(), "{kind} yields ops");
            assert_eq!(kind.name().parse::<WorkloadKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.name())
            );
        }
        let e = "ledger".parse::<WorkloadKind>().unwrap_err();
        assert!(e.contains("register, kv, set, lock"), "{e}");
    }
}
