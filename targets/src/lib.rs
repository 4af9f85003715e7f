//! faultline-targets: bundled reference servers.
