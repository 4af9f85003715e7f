//! What `faultline test --system FILE` needs from a system file, in the shape
//! the controller uses: a [`Db`] for the cluster and a [`ClientFactory`] for
//! the workers, checked against the test's flags first.

use super::{SystemConfig, SystemDb};
use crate::adapter::{AdapterFactory, EventLog};
use crate::client::ClientFactory;
use crate::cluster::{Db, NodeInfo};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A user's system, ready to be set up by a cluster and driven by workers.
pub struct UserSystem {
    db: Arc<SystemDb>,
}

impl UserSystem {
    /// Loads the system file, applies `--set` settings to its parameters and
    /// checks it against the test's flags (`cluster`: `local`, `netns`,
    /// `ssh`; `nemesis`: fault kinds). Errors are bad input (exit 254)
    /// naming the file, the line or the flag.
    pub fn load(
        path: &Path,
        sets: &[String],
        workload: &str,
        cluster: &str,
        nemesis: &[String],
    ) -> anyhow::Result<UserSystem> {
        let mut config = SystemConfig::load(path)?;
        config.apply_sets(sets).map_err(crate::exit::bad_input)?;
        config
            .check_test_flags(workload, cluster, nemesis)
            .map_err(crate::exit::bad_input)?;
        Ok(UserSystem {
            db: Arc::new(SystemDb::new(config)),
        })
    }

    /// The system's name, for the test spec's `target`.
    pub fn name(&self) -> &str {
        &self.db.config().name
    }

    /// Every parameter's value as `name=value` (defaults included), for the
    /// test's record.
    pub fn settings(&self) -> Vec<String> {
        self.db.config().settings_list()
    }

    /// Node count when `--nodes` is not given.
    pub fn default_nodes(&self) -> Option<usize> {
        self.db.config().nodes
    }

    pub fn db(&self) -> Arc<dyn Db> {
        self.db.clone()
    }

    /// Notes about listed logs the run directory lacks after teardown
    /// (see [`SystemDb::missing_logs`]); for the run's log, not errors.
    pub fn missing_logs(&self, run_dir: &Path) -> Vec<String> {
        self.db.missing_logs(run_dir)
    }

    /// One adapter per worker, aimed at `nodes` (the cluster's, after setup);
    /// adapters' stderr goes to `run_dir/adapters/worker-<N>.stderr.log`,
    /// and adapter trouble (restarts, protocol violations) to `log`.
    pub fn client_factory(
        &self,
        nodes: Vec<NodeInfo>,
        op_timeout: Duration,
        run_dir: &Path,
        log: Option<EventLog>,
    ) -> Arc<dyn ClientFactory> {
        let mut spec = self
            .db
            .adapter_spec(op_timeout, Some(run_dir.join("adapters")));
        spec.log = log;
        Arc::new(AdapterFactory::new(spec, nodes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etcd() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/etcd/etcd.toml")
    }

    #[test]
    fn loads_and_checks_flags() {
        let system =
            UserSystem::load(&etcd(), &[], "register", "netns", &["partition".into()]).unwrap();
        assert_eq!(system.name(), "etcd");
        assert_eq!(system.default_nodes(), Some(3));
        assert!(!system.db().peers_through_proxies());
        let e = UserSystem::load(&etcd(), &[], "lock", "local", &[])
            .err()
            .unwrap();
        assert!(e.chain().any(|c| c.is::<crate::exit::BadInput>()), "{e}");
        let e = UserSystem::load(
            Path::new("/nonexistent.toml"),
            &[],
            "register",
            "local",
            &[],
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("/nonexistent.toml"), "{e}");
    }
}
