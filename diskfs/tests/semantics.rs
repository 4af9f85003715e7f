//! What survives a power loss (and the other faults) after each sequence of
//! write, fsync, create, rename, directory fsync and unlink, on a real mount.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};

use common::Mount;

fn read(m: &Mount, rel: &str) -> Option<Vec<u8>> {
    match fs::read(m.path(rel)) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => panic!("read {rel}: {e}"),
    }
}

/// Creates `rel` with `data`, fsyncs it and its directory (the root).
fn durable_file(m: &Mount, rel: &str, data: &[u8]) {
    let mut f = File::create(m.path(rel)).unwrap();
    f.write_all(data).unwrap();
    f.sync_all().unwrap();
    m.fsync_dir(".");
}

#[test]
fn write_then_fsync_survives_power_loss() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"durable");
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").as_deref(), Some(&b"durable"[..]));
}

#[test]
fn fsync_error_off_disarms_it() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"durable");
    m.ctl("fsync-error");
    m.ctl("fsync-error off");
    let mut f = OpenOptions::new().append(true).open(m.path("a")).unwrap();
    f.write_all(b"+kept").unwrap();
    f.sync_all().expect("disarmed: fsync succeeds");
    drop(f);
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").as_deref(), Some(&b"durable+kept"[..]));
    let status = m.ctl("status");
    assert!(status.contains("\"fsync_errors\":0"), "{status}");
}

#[test]
fn write_without_fsync_is_lost_and_overwrites_revert() {
    let Some(m) = Mount::new() else { return };
    let orig: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    durable_file(&m, "a", &orig);
    let f = OpenOptions::new().write(true).open(m.path("a")).unwrap();
    f.write_all_at(&[0xff; 100], 5000).unwrap(); // overwrite in the middle
    f.write_all_at(b"appended", 10_000).unwrap(); // extend
    assert_eq!(
        read(&m, "a").unwrap().len(),
        10_008,
        "live state has the writes"
    );
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").unwrap(), orig, "back to the fsynced content");
}

#[test]
fn fdatasync_and_o_dsync_make_writes_durable() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"");
    durable_file(&m, "b", b"");
    let mut f = OpenOptions::new().write(true).open(m.path("a")).unwrap();
    f.write_all(b"synced-data").unwrap();
    f.sync_data().unwrap();
    let mut g = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DSYNC)
        .open(m.path("b"))
        .unwrap();
    g.write_all(b"dsync").unwrap();
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").as_deref(), Some(&b"synced-data"[..]));
    assert_eq!(read(&m, "b").as_deref(), Some(&b"dsync"[..]));
}

#[test]
fn created_file_in_unsynced_directory_disappears() {
    let Some(m) = Mount::new() else { return };
    fs::create_dir(m.path("d")).unwrap();
    m.fsync_dir("."); // d itself is durable
    let mut f = File::create(m.path("d/new")).unwrap();
    f.write_all(b"x").unwrap();
    f.sync_all().unwrap(); // the file's data, but not its name
    let mut g = File::create(m.path("d/kept")).unwrap();
    g.write_all(b"y").unwrap();
    g.sync_all().unwrap();
    m.ctl("power-loss");
    assert_eq!(read(&m, "d/new"), None, "name was never made durable");
    assert!(m.path("d").is_dir());

    let mut h = File::create(m.path("d/new")).unwrap();
    h.write_all(b"x").unwrap();
    h.sync_all().unwrap();
    m.fsync_dir("d");
    m.ctl("power-loss");
    assert_eq!(read(&m, "d/new").as_deref(), Some(&b"x"[..]));
}

#[test]
fn unsynced_directory_takes_its_children_with_it() {
    let Some(m) = Mount::new() else { return };
    fs::create_dir_all(m.path("p/q")).unwrap();
    durable_file(&m, "p/q/f", b"z"); // fsyncs the root, not p or q
    m.fsync_dir("p/q");
    m.ctl("power-loss");
    assert!(m.path("p").is_dir(), "the root was fsynced");
    assert!(!m.path("p/q").exists(), "p was not fsynced, so q is gone");
    assert_eq!(
        fs::read_dir(m.backing().join(".diskfs-grave"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn rename_without_directory_fsync_reverts() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "final", b"old");
    let mut f = File::create(m.path("tmp")).unwrap();
    f.write_all(b"new").unwrap();
    f.sync_all().unwrap();
    m.fsync_dir("."); // tmp's name is durable
    fs::rename(m.path("tmp"), m.path("final")).unwrap();
    assert_eq!(read(&m, "final").as_deref(), Some(&b"new"[..]));
    m.ctl("power-loss");
    assert_eq!(read(&m, "final").as_deref(), Some(&b"old"[..]));
    assert_eq!(read(&m, "tmp").as_deref(), Some(&b"new"[..]));

    fs::rename(m.path("tmp"), m.path("final")).unwrap();
    m.fsync_dir(".");
    m.ctl("power-loss");
    assert_eq!(read(&m, "final").as_deref(), Some(&b"new"[..]));
    assert_eq!(read(&m, "tmp"), None);
}

#[test]
fn unlink_without_directory_fsync_reverts() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"keep me");
    fs::remove_file(m.path("a")).unwrap();
    assert_eq!(read(&m, "a"), None);
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").as_deref(), Some(&b"keep me"[..]));

    fs::remove_file(m.path("a")).unwrap();
    m.fsync_dir(".");
    m.ctl("power-loss");
    assert_eq!(read(&m, "a"), None);
}

#[test]
fn truncate_without_fsync_reverts() {
    let Some(m) = Mount::new() else { return };
    let orig = vec![7u8; 9000];
    durable_file(&m, "a", &orig);
    OpenOptions::new()
        .write(true)
        .open(m.path("a"))
        .unwrap()
        .set_len(100)
        .unwrap();
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").unwrap(), orig);
}

#[test]
fn write_only_open_with_truncate_works_and_reverts() {
    let Some(m) = Mount::new() else { return };
    let orig = vec![7u8; 9000];
    durable_file(&m, "a", &orig);
    // O_WRONLY|O_TRUNC: the kernel truncates by path (setattr with no handle).
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(m.path("a"))
        .unwrap();
    f.write_all(b"new").unwrap();
    drop(f);
    assert_eq!(read(&m, "a").as_deref(), Some(&b"new"[..]));
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").unwrap(), orig);
}

#[test]
fn torn_write_keeps_a_sector_aligned_prefix() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"");
    let f = OpenOptions::new().write(true).open(m.path("a")).unwrap();
    f.write_all_at(&[1u8; 4096], 0).unwrap();
    f.sync_all().unwrap();
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 200) as u8 + 1).collect();
    f.write_all_at(&data, 4096).unwrap(); // the last unsynced write
    let answer = m.ctl("torn-write");
    let got = read(&m, "a").unwrap();
    // Cut at the last sector boundary at or before the write's middle.
    let keep = (4096 + 1500) / 512 * 512 - 4096;
    assert_eq!(got.len(), 4096 + keep, "{answer}");
    assert_eq!(&got[..4096], &[1u8; 4096][..]);
    assert_eq!(&got[4096..], &data[..keep]);
    assert_eq!((got.len()) % 512, 0);
}

#[test]
fn fsync_error_fails_once_and_drops_the_pages() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"durable");
    m.ctl("fsync-error");
    let mut f = OpenOptions::new().append(true).open(m.path("a")).unwrap();
    f.write_all(b"+lost").unwrap();
    let e = f.sync_all().expect_err("fsync must fail once");
    assert_eq!(e.raw_os_error(), Some(libc::EIO));
    f.sync_all()
        .expect("the retry succeeds (and proves nothing)");
    drop(f);
    assert_eq!(
        read(&m, "a").as_deref(),
        Some(&b"durable"[..]),
        "pages dropped"
    );
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").as_deref(), Some(&b"durable"[..]));
    let status = m.ctl("status");
    assert!(status.contains("\"fsync_errors\":1"), "{status}");
}

#[test]
fn disk_full_fails_writes_with_enospc_until_turned_off() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"");
    m.ctl("disk-full on");
    let mut f = OpenOptions::new().write(true).open(m.path("a")).unwrap();
    let e = f
        .write_all(b"x")
        .and_then(|_| f.sync_all())
        .expect_err("ENOSPC");
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    let e = File::create(m.path("b")).expect_err("create fails too");
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    let status = m.ctl("status");
    assert!(status.contains("\"enospc_errors\":2"), "{status}");
    m.ctl("disk-full off");
    f.write_all(b"x").unwrap();
    f.sync_all().unwrap();
    assert_eq!(read(&m, "a").as_deref(), Some(&b"x"[..]));
}

#[test]
fn bad_control_command_is_an_error_naming_it() {
    let Some(m) = Mount::new() else { return };
    let e = faultline_diskfs::control::send(&m.dir.path().join("control.sock"), "explode")
        .expect_err("unknown command");
    assert!(format!("{e:#}").contains("explode"), "{e:#}");
}
