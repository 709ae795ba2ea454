//! Named checks of the proposed opcodes that talk to a ring directly: SQE
//! field validation, getdents64 racing itself and lseek on one file
//! description, mknodat without CAP_MKNOD, and MKNODAT failing at prep or
//! cancelled after it. Each takes a directory of its
//! own (an fd) and the configured opcode numbers, and returns its problems.

use crate::sqe::Proposed;
use crate::sqe::{flags, DevField, FdOperand, ProposedOpcodes, Sqe, SqeEntry};
use io_uring::IoUring;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Submits `sqes` (user_data = index) and waits for all their CQEs (at most
/// `deadline`); returns the results in SQE order, None for a missing CQE.
fn run(ring: &mut IoUring, sqes: &[Sqe], deadline: Duration) -> Vec<Option<i32>> {
    let mut out = vec![None; sqes.len()];
    {
        let mut sq = ring.submission();
        for (i, s) in sqes.iter().enumerate() {
            let e = Sqe {
                user_data: i as u64,
                ..*s
            }
            .to_entry();
            // SAFETY: every pointer in the SQEs points into buffers the caller
            // keeps alive until this function returns (it waits for every CQE).
            unsafe { sq.push(&e).expect("the ring has room") };
        }
    }
    let start = Instant::now();
    let mut got = 0;
    let _ = ring.submit();
    while got < sqes.len() && start.elapsed() < deadline {
        let _ = ring.submitter().submit_with_args(
            1,
            &io_uring::types::SubmitArgs::new()
                .timespec(&io_uring::types::Timespec::new().nsec(50_000_000)),
        );
        for c in ring.completion() {
            if let Some(slot) = out.get_mut(c.user_data() as usize) {
                *slot = Some(c.result());
                got += 1;
            }
        }
    }
    assert!(
        got == sqes.len(),
        "checks: {} of {} CQEs missing after {deadline:?}: the buffers cannot be freed safely",
        sqes.len() - got,
        sqes.len()
    );
    out
}

fn errno_name(res: i32) -> String {
    model::Errno::format_result(res)
}

fn c(path: &str) -> CString {
    CString::new(path).expect("no NUL")
}

fn openat(dir: RawFd, path: &str, flags: i32, mode: u32) -> Result<OwnedFd, String> {
    // SAFETY: a valid C string; the returned fd is owned below.
    let fd = unsafe { libc::openat(dir, c(path).as_ptr(), flags | libc::O_CLOEXEC, mode) };
    if fd < 0 {
        return Err(format!(
            "openat {path}: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `sqe_fields`: the SQE rules of the proposed opcodes (the model's table,
/// model/src/sqe_rules.rs) on this kernel, probed and judged exactly as the
/// sweep (`ringspec sqe-check`) probes and judges every opcode: in the
/// fuzzer's sandbox, by the one verifier ([`crate::sqe_fuzz::sweep_probes`],
/// [`crate::sqe_verify`]). Every must-be-zero field at 1, its top bit and all
/// ones fails with -EINVAL and changes nothing; each undefined flag bit of
/// copy_file_range is -EINVAL, the defined one accepted; an unregistered
/// personality and the IOSQE bits as for every opcode; MKNODAT with
/// IOSQE_FIXED_FILE is -EBADF and with a dev_t beyond 32 bits -EINVAL. Each
/// opcode's valid SQE must be accepted (so the check cannot pass on a kernel
/// that rejects everything). The probes run in the sandbox's own tmpfs, not
/// in `_dir`.
pub fn sqe_fields(_dir: RawFd, p: &ProposedOpcodes) -> Vec<String> {
    use crate::sqe_sweep::{probes_of, Expect, Probe, Target};
    use model::sqe_rules::{errno, Code, Field, TABLE};
    let kernel = crate::profile::kernel_version();
    let mut probes = Vec::new();
    for r in TABLE {
        let Code::Proposed(op) = r.code else {
            continue;
        };
        let Some(n) = p.number(op) else {
            continue;
        };
        probes.extend(probes_of(r, n, kernel));
        let probe = |target, value, expect, rule| Probe {
            op: r.name(),
            opcode: n,
            target,
            value,
            expect,
            rule,
        };
        probes.push(probe(Target::Template, 0, Expect::Accept, "valid SQE"));
        if op == Proposed::Mknodat {
            probes.push(probe(
                Target::SqeFlags,
                flags::FIXED_FILE as u64,
                Expect::Reject(errno::EBADF),
                "IOSQE_FIXED_FILE refused",
            ));
            probes.push(probe(
                Target::Field(Field::Off),
                1 << 40,
                Expect::Fails(errno::EINVAL),
                "dev beyond 32 bits",
            ));
        }
    }
    let report = match crate::sqe_fuzz::sweep_probes(probes) {
        Ok(r) => r,
        Err(e) => return vec![format!("sqe_fields: the sandbox cannot run: {e}")],
    };
    let mut problems = Vec::new();
    for row in report.failing() {
        for d in &row.disagreements {
            problems.push(format!(
                "{} {}={}: table {}, kernel {} (sqe {})",
                row.op, row.field, d.value, d.want, d.got, d.sqe
            ));
        }
    }
    problems
}

/// The records of a GETDENTS64 buffer as (d_off, name) ([`crate::dirent::parse`]).
fn parse_dirents(bytes: &[u8]) -> Result<Vec<(i64, String)>, String> {
    Ok(crate::dirent::parse(bytes)?
        .into_iter()
        .map(|d| (d.d_off, String::from_utf8_lossy(&d.name).into_owned()))
        .collect())
}

/// Rounds of [`getdents_concurrent`] (each lists the whole directory).
pub const CONCURRENT_ROUNDS: usize = 50;
/// GETDENTS64 requests in flight at once on the one description.
pub const CONCURRENT_DEPTH: usize = 16;
/// Entries of the directory [`getdents_concurrent`] lists.
pub const CONCURRENT_ENTRIES: usize = 1500;
/// Buffer size of each GETDENTS64 request: about 170 records, so each request
/// iterates long enough for parallel workers to overlap.
pub const CONCURRENT_BUF: usize = 4096;
/// Buffer size of the racing threads' getdents64(2) calls (about 40 records).
pub const RACER_BUF: usize = 1024;
/// Threads racing the ring with lseek and getdents64(2).
pub const RACERS: usize = 2;

/// What the racing thread saw: positions from lseek(SEEK_CUR), records from
/// getdents64(2), errors.
#[derive(Default)]
struct Racer {
    positions: Vec<i64>,
    records: Vec<(i64, String)>,
    errors: Vec<String>,
}

/// The racing thread: alternates lseek(fd, 0, SEEK_CUR) and a small
/// getdents64(2) on the shared description until `stop`.
fn race(fd: RawFd, stop: &std::sync::atomic::AtomicBool) -> Racer {
    let mut r = Racer::default();
    let mut buf = vec![0u64; RACER_BUF / 8];
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        // SAFETY: fd stays open while the racer runs.
        r.positions
            .push(unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) });
        // SAFETY: a valid buffer of RACER_BUF bytes.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), RACER_BUF) };
        if n < 0 {
            r.errors.push(format!(
                "getdents64(2): {}",
                std::io::Error::last_os_error()
            ));
            break;
        }
        // SAFETY: the kernel wrote n bytes of the buffer.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
        match parse_dirents(bytes) {
            Ok(v) => r.records.extend(v),
            Err(e) => {
                r.errors.push(format!("getdents64(2): {e}"));
                break;
            }
        }
    }
    r
}

/// `getdents_concurrent`: one directory description of [`CONCURRENT_ENTRIES`]
/// entries, read at once by [`CONCURRENT_DEPTH`] GETDENTS64 requests in
/// flight (each an io-wq worker, so they run in parallel on an SMP kernel;
/// [`CONCURRENT_BUF`]-byte buffers, freshly allocated so that copying out
/// faults) and by [`RACERS`] threads that alternate lseek(fd, 0, SEEK_CUR) and
/// getdents64(2) on the same description, until the end of the directory;
/// [`CONCURRENT_ROUNDS`] rounds, each on a new description. All readers share
/// the file position under f_pos_lock, so across the ring's records and the
/// threads', every entry must come back exactly once per round (none lost,
/// none duplicated), and every position the threads see must be one the
/// stream passes through (0 or the d_off of a returned record, or an
/// end-of-directory value beyond them: never a torn value).
pub fn getdents_concurrent(dir: RawFd, p: &ProposedOpcodes) -> Vec<String> {
    let Some(n) = p.number(Proposed::Getdents64) else {
        return vec!["getdents64 not configured".into()];
    };
    if let Err(e) = (|| -> Result<(), String> {
        // SAFETY: valid C strings.
        if unsafe { libc::mkdirat(dir, c("conc").as_ptr(), 0o755) } != 0 {
            return Err(format!("mkdir conc: {}", std::io::Error::last_os_error()));
        }
        let d = openat(dir, "conc", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        for i in 0..CONCURRENT_ENTRIES {
            // SAFETY: as above.
            let r = unsafe {
                libc::mknodat(
                    d.as_raw_fd(),
                    c(&format!("e{i:04}")).as_ptr(),
                    libc::S_IFREG | 0o644,
                    0,
                )
            };
            if r != 0 {
                return Err(format!("mknod: {}", std::io::Error::last_os_error()));
            }
        }
        Ok(())
    })() {
        return vec![e];
    }
    let Ok(mut ring) = IoUring::new(64) else {
        return vec!["io_uring_setup failed".into()];
    };
    let mut problems = Vec::new();
    let expected: Vec<String> = (0..CONCURRENT_ENTRIES)
        .map(|i| format!("e{i:04}"))
        .chain([".".to_string(), "..".to_string()])
        .collect();
    let (mut ring_records, mut racer_records) = (0usize, 0usize);
    for round in 0..CONCURRENT_ROUNDS {
        let d = match openat(dir, "conc", libc::O_RDONLY | libc::O_DIRECTORY, 0) {
            Ok(d) => d,
            Err(e) => return vec![e],
        };
        let fd = d.as_raw_fd();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (seen, racer, err) = std::thread::scope(|s| {
            let racers: Vec<_> = (0..RACERS).map(|_| s.spawn(|| race(fd, &stop))).collect();
            let mut seen: Vec<(i64, String)> = Vec::new();
            let mut err = None;
            'list: for _ in 0..CONCURRENT_ENTRIES {
                let mut bufs = vec![vec![0u64; CONCURRENT_BUF / 8]; CONCURRENT_DEPTH];
                let sqes: Vec<Sqe> = bufs
                    .iter_mut()
                    .map(|b| {
                        Sqe::getdents64(
                            n,
                            FdOperand::Plain(fd),
                            b.as_mut_ptr() as u64,
                            CONCURRENT_BUF as u32,
                        )
                    })
                    .collect();
                let res = run(&mut ring, &sqes, Duration::from_secs(20));
                let mut any = false;
                for (i, r) in res.iter().enumerate() {
                    match r {
                        Some(r) if *r > 0 => {
                            any = true;
                            // SAFETY: the kernel wrote r bytes of bufs[i].
                            let bytes = unsafe {
                                std::slice::from_raw_parts(
                                    bufs[i].as_ptr().cast::<u8>(),
                                    (*r as usize).min(CONCURRENT_BUF),
                                )
                            };
                            match parse_dirents(bytes) {
                                Ok(v) => seen.extend(v),
                                Err(e) => {
                                    err = Some(e);
                                    break 'list;
                                }
                            }
                        }
                        Some(0) => {}
                        Some(r) => {
                            err = Some(format!("a request failed: {}", errno_name(*r)));
                            break 'list;
                        }
                        None => {
                            err = Some("a CQE is missing".into());
                            break 'list;
                        }
                    }
                }
                if !any {
                    break;
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let mut racer = Racer::default();
            for r in racers {
                let r = r.join().unwrap_or_default();
                racer.positions.extend(r.positions);
                racer.records.extend(r.records);
                racer.errors.extend(r.errors);
            }
            (seen, racer, err)
        });
        if let Some(e) = err {
            problems.push(format!("round {round}: {e}"));
        }
        problems.extend(racer.errors.iter().map(|e| format!("round {round}: {e}")));
        ring_records += seen.len();
        racer_records += racer.records.len();
        let all: Vec<&(i64, String)> = seen.iter().chain(&racer.records).collect();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, name) in &all {
            *counts.entry(name.as_str()).or_default() += 1;
        }
        let dups: Vec<String> = counts
            .iter()
            .filter(|(_, &k)| k > 1)
            .map(|(n, k)| format!("{n} x{k}"))
            .collect();
        let lost: Vec<&String> = expected
            .iter()
            .filter(|e| !counts.contains_key(e.as_str()))
            .collect();
        if !dups.is_empty() || !lost.is_empty() {
            problems.push(format!(
                "round {round}: {} records ({} through the ring, {} from getdents64(2)) for {} \
                 entries; {} returned twice or more [{}]; {} lost {:?}",
                all.len(),
                seen.len(),
                racer.records.len(),
                expected.len(),
                dups.len(),
                dups.iter().take(4).cloned().collect::<Vec<_>>().join(", "),
                lost.len(),
                lost.iter().take(4).collect::<Vec<_>>()
            ));
        }
        // Positions the stream passes through: 0, every returned d_off, and
        // whatever end-of-directory value the filesystem parks f_pos at
        // (beyond the largest d_off). Not necessarily increasing: 6.12's tmpfs
        // lists in d_children order, whose offsets are not sorted.
        let valid: std::collections::HashSet<i64> =
            all.iter().map(|(o, _)| *o).chain([0]).collect();
        let last = all.iter().map(|(o, _)| *o).max().unwrap_or(0);
        if let Some(bad) = racer
            .positions
            .iter()
            .find(|p| !valid.contains(p) && **p <= last)
        {
            problems.push(format!(
                "round {round}: lseek(SEEK_CUR) saw position {bad}, not 0 and not the d_off of any returned record"
            ));
        }
        if problems.len() >= 5 {
            break;
        }
    }
    if problems.is_empty() && ring_records < CONCURRENT_ROUNDS * CONCURRENT_ENTRIES / 4 {
        problems.push(format!(
            "the racing threads read most of the entries ({racer_records} records against \
             {ring_records} through the ring): the ring requests were hardly exercised"
        ));
    }
    problems
}

/// `mknod_eperm`: on a thread without CAP_MKNOD in its effective set,
/// MKNODAT of a character and of a block device fails with -EPERM like
/// mknodat(2), and a FIFO, a socket and a regular file are still created. The
/// capability is dropped with capset(2) on a thread of its own (io_uring
/// captures the submitter's credentials for io-wq).
pub fn mknod_eperm(dir: RawFd, p: &ProposedOpcodes) -> Vec<String> {
    let Some(n) = p.number(Proposed::Mknodat) else {
        return vec!["mknodat not configured".into()];
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return vec!["needs root (CAP_MKNOD to drop)".into()];
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Err(e) = drop_cap_mknod() {
                return vec![e];
            }
            let Ok(mut ring) = IoUring::new(8) else {
                return vec!["io_uring_setup failed".into()];
            };
            let mut problems = Vec::new();
            for (name, ty, want) in [
                ("eperm_chr", libc::S_IFCHR, -libc::EPERM),
                ("eperm_blk", libc::S_IFBLK, -libc::EPERM),
                ("eperm_fifo", libc::S_IFIFO, 0),
                ("eperm_sock", libc::S_IFSOCK, 0),
                ("eperm_reg", libc::S_IFREG, 0),
            ] {
                let dev = libc::makedev(1, 3);
                // The syscall, as the reference.
                let sys_name = c(&format!("{name}_sys"));
                // SAFETY: valid C string.
                let r = unsafe { libc::mknodat(dir, sys_name.as_ptr(), ty | 0o600, dev) };
                let sys = if r == 0 {
                    0
                } else {
                    -std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
                };
                let path = c(&format!("{name}_ring"));
                let sqe =
                    Sqe::mknodat(n, dir, path.as_ptr() as u64, ty | 0o600, dev, DevField::Off);
                let got = run(&mut ring, &[sqe], Duration::from_secs(5))[0];
                if sys != want {
                    problems.push(format!(
                        "{name}: mknodat(2) gave {}, expected {} (is CAP_MKNOD dropped?)",
                        errno_name(sys),
                        errno_name(want)
                    ));
                }
                if got != Some(want) {
                    problems.push(format!(
                        "{name}: MKNODAT gave {}, mknodat(2) {}",
                        got.map_or("no CQE".into(), errno_name),
                        errno_name(sys)
                    ));
                }
            }
            problems
        })
        .join()
        .unwrap_or_else(|_| vec!["the check's thread panicked".into()])
    })
}

/// `mknod_prep_failures`: MKNODAT's path is read at prep (getname), so a
/// path that cannot be read fails the request before it is issued, with
/// mknodat(2)'s errno: a pointer into unmapped memory -EFAULT, an empty path
/// -ENOENT, a path of PATH_MAX bytes -ENAMETOOLONG. And a MKNODAT that was
/// prepared but never issued (linked after a request that fails: -ECANCELED)
/// creates nothing and frees its name (the opcode's cleanup; a leak there is
/// kmemleak's to report on a debug kernel).
pub fn mknod_prep_failures(dir: RawFd, p: &ProposedOpcodes) -> Vec<String> {
    let Some(n) = p.number(Proposed::Mknodat) else {
        return vec!["mknodat not configured".into()];
    };
    let Ok(mut ring) = IoUring::new(8) else {
        return vec!["io_uring_setup failed".into()];
    };
    let mut problems = Vec::new();
    let mode = libc::S_IFIFO | 0o600;
    let empty = c("");
    let long = c(&"n".repeat(libc::PATH_MAX as usize));
    // Page 0 is never mapped: reading the path faults.
    let unmapped: u64 = 1;
    for (name, path, want) in [
        ("unmapped path", unmapped, -libc::EFAULT),
        ("empty path", empty.as_ptr() as u64, -libc::ENOENT),
        (
            "path of PATH_MAX bytes",
            long.as_ptr() as u64,
            -libc::ENAMETOOLONG,
        ),
    ] {
        // SAFETY: mknodat reads the path or fails with EFAULT; nothing else.
        let r = unsafe { libc::mknodat(dir, path as *const libc::c_char, mode, 0) };
        let sys = if r == 0 {
            0
        } else {
            -std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
        };
        let got = run(
            &mut ring,
            &[Sqe::mknodat(n, dir, path, mode, 0, DevField::Off)],
            Duration::from_secs(5),
        )[0];
        if sys != want {
            problems.push(format!(
                "{name}: mknodat(2) gave {}, expected {}",
                errno_name(sys),
                errno_name(want)
            ));
        }
        if got != Some(want) {
            problems.push(format!(
                "{name}: MKNODAT gave {}, mknodat(2) {}",
                got.map_or("no CQE".into(), errno_name),
                errno_name(sys)
            ));
        }
    }
    // A chain whose head fails (EEXIST) cancels the prepared MKNODAT.
    let exists = c("prep_exists");
    let cancelled = c("prep_cancelled");
    // SAFETY: valid C string.
    if unsafe { libc::mknodat(dir, exists.as_ptr(), mode, 0) } != 0 {
        problems.push(format!(
            "mknodat prep_exists: {}",
            std::io::Error::last_os_error()
        ));
        return problems;
    }
    let mut head = Sqe::mknodat(n, dir, exists.as_ptr() as u64, mode, 0, DevField::Off);
    head.flags |= flags::IO_LINK;
    let next = Sqe::mknodat(n, dir, cancelled.as_ptr() as u64, mode, 0, DevField::Off);
    let got = run(&mut ring, &[head, next], Duration::from_secs(5));
    if got != [Some(-libc::EEXIST), Some(-libc::ECANCELED)] {
        problems.push(format!(
            "linked after a failing MKNODAT: the chain gave {} and {}, expected -EEXIST and \
             -ECANCELED",
            got[0].map_or("no CQE".into(), errno_name),
            got[1].map_or("no CQE".into(), errno_name)
        ));
    }
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid C string and stat buffer.
    if unsafe {
        libc::fstatat(
            dir,
            cancelled.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } == 0
    {
        problems.push("the cancelled MKNODAT created prep_cancelled".into());
    }
    problems
}

/// Removes CAP_MKNOD from the calling thread's effective set.
fn drop_cap_mknod() -> Result<(), String> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    const CAP_MKNOD: u32 = 27;
    let mut h = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget/capset with a v3 header and two data words.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()) != 0 {
            return Err(format!("capget: {}", std::io::Error::last_os_error()));
        }
        d[0].effective &= !(1 << CAP_MKNOD);
        if libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_ptr()) != 0 {
            return Err(format!("capset: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn dirent_parsing() {
        let mut b = vec![0u8; 24];
        b[8..16].copy_from_slice(&7i64.to_ne_bytes());
        b[16..18].copy_from_slice(&24u16.to_ne_bytes());
        b[19] = b'x';
        assert_eq!(
            super::parse_dirents(&b).unwrap(),
            vec![(7, "x".to_string())]
        );
        b[16..18].copy_from_slice(&99u16.to_ne_bytes());
        assert!(super::parse_dirents(&b).is_err());
    }
}
