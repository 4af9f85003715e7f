//! faultline-diskfs: mount the forgetting filesystem, send it faults, unmount it.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "faultline-diskfs",
    about = "A FUSE filesystem that forgets what was not fsynced"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Mount BACKING at MOUNTPOINT and serve until SIGTERM/SIGINT (then unmount).
    Mount {
        backing: PathBuf,
        mountpoint: PathBuf,
        /// Unix socket for fault commands.
        #[arg(long)]
        control: PathBuf,
    },
    /// Send a command to a mounted filesystem: power-loss, torn-write,
    /// fsync-error, disk-full on|off, status.
    Ctl {
        control: PathBuf,
        #[arg(required = true, num_args = 1..)]
        command: Vec<String>,
    },
    /// Unmount MOUNTPOINT (lazily), whether or not its server is alive.
    Unmount { mountpoint: PathBuf },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Mount {
            backing,
            mountpoint,
            control,
        } => faultline_diskfs::serve(&backing, &mountpoint, &control),
        Cmd::Ctl { control, command } => {
            let answer = faultline_diskfs::control::send(&control, &command.join(" "))?;
            println!("{answer}");
            Ok(())
        }
        Cmd::Unmount { mountpoint } => faultline_diskfs::unmount(&mountpoint),
    }
}
