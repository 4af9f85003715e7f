//! faultline-workloads: op generators and workload definitions.
