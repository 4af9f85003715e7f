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

// ---- the sequences programs get wrong: data vs. names, across renames ----

#[test]
fn directory_fsync_keeps_the_name_but_not_unsynced_data() {
    let Some(m) = Mount::new() else { return };
    let mut f = File::create(m.path("a")).unwrap();
    f.write_all(b"never fsynced").unwrap();
    m.fsync_dir(".");
    m.ctl("power-loss");
    assert_eq!(
        read(&m, "a").as_deref(),
        Some(&b""[..]),
        "the name is durable, its data was not"
    );
}

#[test]
fn replace_by_rename_without_fsyncing_the_new_file_leaves_it_empty() {
    // The classic bug: write tmp, rename it over the file, fsync the
    // directory, but never fsync tmp itself.
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "final", b"old");
    let mut f = File::create(m.path("tmp")).unwrap();
    f.write_all(b"new").unwrap();
    fs::rename(m.path("tmp"), m.path("final")).unwrap();
    m.fsync_dir(".");
    m.ctl("power-loss");
    assert_eq!(read(&m, "final").as_deref(), Some(&b""[..]));
    assert_eq!(read(&m, "tmp"), None);
}

#[test]
fn rename_across_directories_is_durable_by_fsyncing_either_one() {
    let Some(m) = Mount::new() else { return };
    fs::create_dir(m.path("a")).unwrap();
    fs::create_dir(m.path("b")).unwrap();
    m.fsync_dir(".");
    durable_file(&m, "a/f", b"1");
    durable_file(&m, "a/g", b"2");
    m.fsync_dir("a");
    fs::rename(m.path("a/f"), m.path("b/f")).unwrap();
    m.fsync_dir("b"); // the target's directory
    fs::rename(m.path("a/g"), m.path("b/g")).unwrap();
    m.fsync_dir("a"); // the source's directory
    fs::rename(m.path("b/f"), m.path("a/h")).unwrap(); // not fsynced
    m.ctl("power-loss");
    assert_eq!(read(&m, "b/f").as_deref(), Some(&b"1"[..]));
    assert_eq!(
        read(&m, "a/h"),
        None,
        "its last rename was not made durable"
    );
    assert_eq!(read(&m, "b/g").as_deref(), Some(&b"2"[..]));
    assert_eq!(read(&m, "a/f"), None);
    assert_eq!(read(&m, "a/g"), None);
}

#[test]
fn fsynced_data_follows_the_file_when_its_rename_is_forgotten() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"v1");
    fs::rename(m.path("a"), m.path("b")).unwrap();
    let mut f = OpenOptions::new().append(true).open(m.path("b")).unwrap();
    f.write_all(b"+v2").unwrap();
    f.sync_all().unwrap(); // the data, not the rename
    m.ctl("power-loss");
    assert_eq!(read(&m, "b"), None);
    assert_eq!(read(&m, "a").as_deref(), Some(&b"v1+v2"[..]));
}

#[test]
fn fsync_of_another_directory_makes_nothing_here_durable() {
    let Some(m) = Mount::new() else { return };
    fs::create_dir(m.path("d")).unwrap();
    fs::create_dir(m.path("e")).unwrap();
    m.fsync_dir(".");
    durable_file(&m, "d/f", b"x"); // fsyncs the root, not d
    m.fsync_dir("e");
    m.ctl("power-loss");
    assert!(m.path("d").is_dir() && m.path("e").is_dir());
    assert_eq!(read(&m, "d/f"), None);
}

#[test]
fn new_directory_survives_without_its_unsynced_entries() {
    let Some(m) = Mount::new() else { return };
    fs::create_dir(m.path("d")).unwrap();
    m.fsync_dir(".");
    let mut f = File::create(m.path("d/f")).unwrap();
    f.write_all(b"x").unwrap();
    f.sync_all().unwrap();
    m.ctl("power-loss");
    assert!(m.path("d").is_dir());
    assert_eq!(fs::read_dir(m.path("d")).unwrap().count(), 0);
}

#[test]
fn renamed_directory_reverts_with_its_contents() {
    let Some(m) = Mount::new() else { return };
    fs::create_dir(m.path("d")).unwrap();
    m.fsync_dir(".");
    durable_file(&m, "d/f", b"inside");
    m.fsync_dir("d");
    fs::rename(m.path("d"), m.path("e")).unwrap();
    assert_eq!(read(&m, "e/f").as_deref(), Some(&b"inside"[..]));
    m.ctl("power-loss");
    assert!(!m.path("e").exists());
    assert_eq!(read(&m, "d/f").as_deref(), Some(&b"inside"[..]));
}

#[test]
fn hard_link_needs_its_directory_fsynced() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"x");
    fs::hard_link(m.path("a"), m.path("b")).unwrap();
    m.ctl("power-loss");
    assert_eq!(read(&m, "b"), None);
    assert_eq!(read(&m, "a").as_deref(), Some(&b"x"[..]));

    fs::hard_link(m.path("a"), m.path("b")).unwrap();
    m.fsync_dir(".");
    m.ctl("power-loss");
    assert_eq!(read(&m, "b").as_deref(), Some(&b"x"[..]));
}

#[test]
fn unlinked_open_file_comes_back_without_its_unsynced_writes() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"durable");
    let mut f = OpenOptions::new().append(true).open(m.path("a")).unwrap();
    fs::remove_file(m.path("a")).unwrap();
    f.write_all(b"+written after unlink").unwrap();
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").as_deref(), Some(&b"durable"[..]));
}

#[test]
fn file_created_and_unlinked_before_any_fsync_leaves_nothing() {
    let Some(m) = Mount::new() else { return };
    let mut f = File::create(m.path("a")).unwrap();
    f.write_all(b"x").unwrap();
    f.sync_all().unwrap();
    drop(f);
    fs::remove_file(m.path("a")).unwrap();
    m.ctl("power-loss");
    assert_eq!(read(&m, "a"), None);
    assert_eq!(fs::read_dir(m.mnt()).unwrap().count(), 0);
    assert_eq!(
        fs::read_dir(m.backing().join(".diskfs-grave"))
            .unwrap()
            .count(),
        0,
        "the grave is emptied"
    );
}

#[test]
fn rename_over_a_file_then_unlink_reverts_both() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "final", b"old");
    durable_file(&m, "tmp", b"new");
    fs::rename(m.path("tmp"), m.path("final")).unwrap();
    fs::remove_file(m.path("final")).unwrap();
    m.ctl("power-loss");
    assert_eq!(read(&m, "final").as_deref(), Some(&b"old"[..]));
    assert_eq!(read(&m, "tmp").as_deref(), Some(&b"new"[..]));
}

#[test]
fn only_the_last_fsync_counts_and_power_loss_can_repeat() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"v1");
    let f = OpenOptions::new().write(true).open(m.path("a")).unwrap();
    f.write_all_at(b"v2", 0).unwrap();
    f.sync_all().unwrap();
    f.write_all_at(b"v3", 0).unwrap();
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").as_deref(), Some(&b"v2"[..]));
    // Writing on after a power loss: the same rules again.
    let f = OpenOptions::new().write(true).open(m.path("a")).unwrap();
    f.write_all_at(b"v4", 0).unwrap();
    f.sync_all().unwrap();
    f.write_all_at(b"v5-longer", 0).unwrap();
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").as_deref(), Some(&b"v4"[..]));
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").as_deref(), Some(&b"v4"[..]));
}

#[test]
fn extending_truncate_without_fsync_reverts() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"short");
    OpenOptions::new()
        .write(true)
        .open(m.path("a"))
        .unwrap()
        .set_len(100_000)
        .unwrap();
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").as_deref(), Some(&b"short"[..]));
}

#[test]
fn o_sync_writes_are_durable_at_once() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"");
    let mut f = OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_SYNC)
        .open(m.path("a"))
        .unwrap();
    f.write_all(b"sync").unwrap();
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").as_deref(), Some(&b"sync"[..]));
}

#[test]
fn torn_write_tears_the_last_write_and_drops_every_other_unsynced_one() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"");
    durable_file(&m, "b", b"");
    let a = OpenOptions::new().write(true).open(m.path("a")).unwrap();
    let b = OpenOptions::new().write(true).open(m.path("b")).unwrap();
    a.write_all_at(&[1u8; 2048], 0).unwrap(); // an earlier unsynced write
    b.write_all_at(&[2u8; 2048], 0).unwrap(); // the last one
    m.ctl("torn-write");
    assert_eq!(
        read(&m, "a").unwrap(),
        b"",
        "an earlier write is lost whole"
    );
    assert_eq!(
        read(&m, "b").unwrap(),
        vec![2u8; 1024],
        "torn at its middle"
    );
}

#[test]
fn torn_write_leaves_fsynced_writes_whole() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"");
    let a = OpenOptions::new().write(true).open(m.path("a")).unwrap();
    a.write_all_at(&[3u8; 4096], 0).unwrap();
    a.sync_all().unwrap(); // the last write, but durable
    m.ctl("torn-write");
    assert_eq!(read(&m, "a").unwrap(), vec![3u8; 4096]);
}

#[test]
fn fsync_error_hits_one_fsync_and_later_writes_are_durable_again() {
    let Some(m) = Mount::new() else { return };
    durable_file(&m, "a", b"a0");
    durable_file(&m, "b", b"b0");
    m.ctl("fsync-error");
    let a = OpenOptions::new().write(true).open(m.path("a")).unwrap();
    let b = OpenOptions::new().write(true).open(m.path("b")).unwrap();
    a.write_all_at(b"+a1", 2).unwrap();
    b.write_all_at(b"+b1", 2).unwrap();
    assert_eq!(
        a.sync_all().unwrap_err().raw_os_error(),
        Some(libc::EIO),
        "the armed fsync fails"
    );
    b.sync_all().expect("only one fsync fails");
    a.write_all_at(b"+a2", 2).unwrap();
    a.sync_all().unwrap();
    m.ctl("power-loss");
    assert_eq!(read(&m, "a").as_deref(), Some(&b"a0+a2"[..]));
    assert_eq!(read(&m, "b").as_deref(), Some(&b"b0+b1"[..]));
}
