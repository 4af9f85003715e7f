//! faultline-diskfs: a FUSE passthrough filesystem that forgets what was not
//! made durable.
//!
//! It mounts over a backing directory and keeps, per file, the data written
//! since the last fsync/fdatasync (O_SYNC/O_DSYNC writes are durable at
//! once), and per directory the entries created, renamed or removed since the
//! directory was last fsynced. On command (see [`control`]) it forgets them:
//! `power-loss`, `torn-write`, `fsync-error`, `disk-full on|off`.

pub mod control;
pub mod fs;
pub mod mount;
pub mod state;
pub mod undo;

pub use mount::{is_mounted, mount, serve, unmount, Mounted};
