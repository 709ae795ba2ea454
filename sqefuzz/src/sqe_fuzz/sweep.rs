//! Submits rule probes in the fuzzer's sandbox ([`Sandbox::probe`]): each on a
//! fresh `run` directory, fresh descriptors and the template SQE of its opcode,
//! with the sandbox's observable state taken before and after. The SQE rule
//! sweep ([`crate::sqe_sweep`]), the named check `check:sqe_fields` (a probe
//! list of its own, [`Sandbox::sweep`] with `Some`) and the rule verification
//! (`Sandbox::verify`) all submit through it and judge with
//! [`crate::sqe_verify::judge`].

use super::{open_fds, JobError, Run, RunError, Sandbox, MAX_SQES, PAGE};
use super::{ArenaMem, RW_AT, RW_LEN};
use crate::sqe_sweep::{
    self, show_value, Disagreement, Expect, Probe, RowStatus, SweepReport, SweepRow,
};
use crate::sqe_verify::{self, Observed};
use backends::sqe::Sqe;
use model::sqe_rules::{self as rules, errno, Code, SqeContext};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

impl Sandbox {
    /// Runs every probe of the plan for this kernel (or only `only`, with no
    /// unsupported rows) and folds them into rows.
    pub(super) fn sweep(&mut self, only: Option<Vec<Probe>>) -> Result<SweepReport, JobError> {
        let started = Instant::now();
        let (probes, missing) = match only {
            Some(p) => (p, Vec::new()),
            None => {
                let probe = backends::probe::probe().map_err(JobError::Probe)?;
                sqe_sweep::plan(&self.profile, &|n| probe.supports(n))
            }
        };
        let roots = self._scratch.roots("sweep")?;
        let mut u = backends::uring::Uring::new(
            roots,
            backends::uring::Mode::Single,
            backends::sqe::ProposedOpcodes::default(),
        )?;
        u.set_deadline(Duration::from_millis(500));
        let mut rows: Vec<SweepRow> = Vec::new();
        let mut index: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for p in &probes {
            let key = (p.op, p.target.name());
            let i = *index.entry(key).or_insert_with(|| {
                rows.push(SweepRow {
                    op: p.op.to_string(),
                    opcode: Some(p.opcode),
                    field: p.target.name().to_string(),
                    rules: Vec::new(),
                    probes: 0,
                    rejections: 0,
                    acceptances: 0,
                    agreed: 0,
                    status: RowStatus::Pass,
                    disagreements: Vec::new(),
                    note: None,
                });
                rows.len() - 1
            });
            let rule = match p.expect {
                Expect::Reject(e) | Expect::Fails(e) => format!("{}: {}", p.rule, errno::name(e)),
                _ => format!("{}: accepted", p.rule),
            };
            let row = &mut rows[i];
            if !row.rules.contains(&rule) {
                row.rules.push(rule);
            }
            row.probes += 1;
            match p.expect {
                Expect::Reject(_) | Expect::Fails(_) => row.rejections += 1,
                _ => row.acceptances += 1,
            }
            let (target, value) = (p.target, p.value);
            let (ok, d) = match self.probe(&mut u, p.opcode, &|s| target.apply(s, value)) {
                Ok(o) => {
                    let j = sqe_verify::judge(p.expect, p.rule, &o);
                    (
                        j.ok,
                        Disagreement {
                            value: show_value(p.value),
                            want: j.want,
                            got: j.got,
                            sqe: o.sqe.to_string(),
                        },
                    )
                }
                Err(e) => (
                    false,
                    Disagreement {
                        value: show_value(p.value),
                        want: sqe_verify::want_text(p.expect, p.rule),
                        got: format!("the probe could not run: {e}"),
                        sqe: String::new(),
                    },
                ),
            };
            if ok {
                rows[i].agreed += 1;
            } else {
                rows[i].status = RowStatus::Fail;
                rows[i].disagreements.push(d);
            }
        }
        for m in missing {
            rows.push(SweepRow {
                op: m.op.to_string(),
                opcode: rules::TABLE
                    .iter()
                    .find(|r| r.name() == m.op)
                    .and_then(|r| match r.code {
                        Code::Mainline(n) => Some(n),
                        Code::Proposed(_) => None,
                    }),
                field: "-".into(),
                rules: Vec::new(),
                probes: 0,
                rejections: 0,
                acceptances: 0,
                agreed: 0,
                status: RowStatus::Unsupported,
                disagreements: Vec::new(),
                note: Some(m.why),
            });
        }
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(SweepReport {
            release,
            kernel: self.profile.kernel,
            last_op: self.profile.last_op,
            rows,
            probes: probes.len() as u64,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Submits one probe: on a fresh run, the valid template of `code` changed
    /// by `change`, with the state before and after; returns what the kernel
    /// gave and what the table allows for the SQE in its context. Closes the
    /// descriptors the SQE made.
    pub(super) fn probe(
        &mut self,
        u: &mut backends::uring::Uring,
        code: u8,
        change: &dyn Fn(&mut Sqe),
    ) -> Result<Observed, RunError> {
        let t = super::template_with(code, &self.profile.proposed)
            .ok_or(RunError::NoTemplate { opcode: code })?;
        let run = self.setup_run()?;
        let mut pages = [[0u8; PAGE]; MAX_SQES];
        let r = self.resolve(&run, 0, &t, &mut pages[0]);
        if let Err(e) = self.arena.reset(&pages) {
            self.teardown(run, &super::FdSet::default());
            return Err(e.into());
        }
        let mut sqe = r.sqe;
        change(&mut sqe);
        let f = sqe;
        let mem = ArenaMem {
            arena: &self.arena,
            ro_stable: true,
        };
        let fd = self.fd_state(&run, &f);
        let ctx = SqeContext {
            fd,
            mem: &mem,
            ..SqeContext::default()
        };
        let allowed = rules::allowed_results_in(&self.profile, &f, &ctx);
        let before = self.observe(&run);
        // SAFETY: the SQE's pointers are into the arena, alive for the
        // sandbox's life; the request is waited for (a lost one keeps pointing
        // into the arena, which is never unmapped while the sandbox lives).
        let res = unsafe { u.submit_raw(&[sqe], false) };
        let res = match res[0] {
            backends::uring::RawResult::Done(v) => v,
            other => {
                self.teardown(run, &super::FdSet::default());
                return Err(RunError::NoCompletion(other));
            }
        };
        let after = self.observe(&run);
        let changed = diff_lines(&before, &after);
        let mut extra = super::FdSet::default();
        if res >= 0 {
            if let Some(rr) = r.rules {
                if matches!(rr.res, rules::Res::Fd) && sqe.splice_fd_in == 0 {
                    extra.insert(res);
                }
                if rr.code == Code::Mainline(rules::op::PIPE) && sqe.splice_fd_in == 0 {
                    if let Some((super::Part::Rw, off)) = self.arena.part(sqe.addr) {
                        let b = self.arena.read(off, 8);
                        extra.insert(i32::from_ne_bytes(b[..4].try_into().expect("4")));
                        extra.insert(i32::from_ne_bytes(b[4..].try_into().expect("4")));
                    }
                }
            }
        }
        self.teardown(run, &extra);
        Ok(Observed {
            sqe,
            res,
            allowed,
            changed,
        })
    }

    /// Everything a rejected SQE must leave alone, one line per item: the tree
    /// under `run` and the other tmpfs (type, mode, size, link count,
    /// mtime/ctime, a hash of the bytes or the link target, xattrs), the
    /// positions of the roles' descriptors, the bytes queued in the pipes, the
    /// arena's writable part and the process's open descriptors.
    fn observe(&self, run: &Run) -> Vec<String> {
        let mut out = Vec::new();
        walk(run.dir, "run", 0, &mut out);
        walk(self.roots.other.as_raw_fd(), "other", 0, &mut out);
        for (i, &fd) in run.roles.iter().enumerate() {
            // SAFETY: lseek and ioctl on the run's own descriptors.
            let pos = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
            let mut queued: libc::c_int = -1;
            // SAFETY: lseek and ioctl on the run's own descriptors.
            unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) };
            out.push(format!(
                "role {}: position {pos}, queued {queued}",
                super::ROLE_NAMES[i]
            ));
        }
        let rw = self.arena.read(RW_AT, RW_LEN);
        match rw.iter().zip(&self.arena.pattern).position(|(a, b)| a != b) {
            None => out.push("arena rw: intact".into()),
            Some(at) => out.push(format!("arena rw: changed from byte {at}")),
        }
        out.push(format!("open descriptors: {:?}", open_fds()));
        out
    }
}

/// Lines of `after` not in `before` and the other way round.
fn diff_lines(before: &[String], after: &[String]) -> Vec<String> {
    let b: BTreeSet<&String> = before.iter().collect();
    let a: BTreeSet<&String> = after.iter().collect();
    let mut out: Vec<String> = b.difference(&a).map(|l| format!("- {l}")).collect();
    out.extend(a.difference(&b).map(|l| format!("+ {l}")));
    out
}

/// Appends a line per entry under the directory `dir` (recursively, never
/// following symlinks).
fn walk(dir: RawFd, prefix: &str, depth: u32, out: &mut Vec<String>) {
    if depth > 8 {
        return;
    }
    // SAFETY: lseek on a valid descriptor (list from the start).
    unsafe { libc::lseek(dir, 0, libc::SEEK_SET) };
    let Ok(mut entries) = sys::dirent::list_dir(dir) else {
        out.push(format!("{prefix}: unreadable"));
        return;
    };
    entries.sort();
    for (name, _) in entries {
        let shown = format!("{prefix}/{}", String::from_utf8_lossy(&name));
        let Ok(c) = CString::new(name) else {
            continue;
        };
        // SAFETY: st is written by fstatat before being read.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: st is written by fstatat before being read.
        if unsafe { libc::fstatat(dir, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } < 0 {
            out.push(format!("{shown}: vanished"));
            continue;
        }
        let kind = st.st_mode & libc::S_IFMT;
        let content = match kind {
            libc::S_IFREG => content_hash(dir, &c),
            libc::S_IFLNK => {
                let mut buf = [0u8; 4096];
                // SAFETY: buf is writable for its length.
                let n = unsafe {
                    libc::readlinkat(dir, c.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
                };
                format!("-> {}", String::from_utf8_lossy(&buf[..n.max(0) as usize]))
            }
            _ => String::new(),
        };
        out.push(format!(
            "{shown}: mode {:o} size {} nlink {} mtime {}.{} ctime {}.{} rdev {} {content} xattrs {}",
            st.st_mode,
            st.st_size,
            st.st_nlink,
            st.st_mtime,
            st.st_mtime_nsec,
            st.st_ctime,
            st.st_ctime_nsec,
            st.st_rdev,
            xattrs(dir, &c, kind)
        ));
        if kind == libc::S_IFDIR {
            // SAFETY: a fresh descriptor, closed below.
            let sub = unsafe {
                libc::openat(
                    dir,
                    c.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                )
            };
            if sub >= 0 {
                walk(sub, &shown, depth + 1, out);
                // SAFETY: our descriptor.
                unsafe { libc::close(sub) };
            }
        }
    }
}

/// FNV-1a of a regular file's bytes (read through a fresh descriptor, so no
/// position of the sandbox's own descriptors moves).
fn content_hash(dir: RawFd, name: &CString) -> String {
    // SAFETY: a fresh descriptor, closed below; O_NONBLOCK so nothing waits.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return "bytes unreadable".into();
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut buf = vec![0u8; 65536];
    let mut total = 0u64;
    loop {
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        total += n as u64;
        for &b in &buf[..n as usize] {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        if total > 1 << 24 {
            break;
        }
    }
    // SAFETY: our descriptor.
    unsafe { libc::close(fd) };
    format!("bytes {total} fnv {h:016x}")
}

/// The extended attributes of an entry (names and values), through
/// /proc/self/fd so that symlinks are not followed.
fn xattrs(dir: RawFd, name: &CString, kind: u32) -> String {
    if kind != libc::S_IFREG && kind != libc::S_IFDIR {
        return "-".into();
    }
    let path = format!(
        "/proc/self/fd/{dir}/{}",
        String::from_utf8_lossy(name.as_bytes())
    );
    let Ok(p) = CString::new(path) else {
        return "?".into();
    };
    let mut list = vec![0u8; 4096];
    // SAFETY: list is writable for its length.
    let n = unsafe { libc::llistxattr(p.as_ptr(), list.as_mut_ptr().cast(), list.len()) };
    if n < 0 {
        return format!("errno {}", std::io::Error::last_os_error());
    }
    let mut out = Vec::new();
    for key in list[..n as usize]
        .split(|&b| b == 0)
        .filter(|k| !k.is_empty())
    {
        let Ok(k) = CString::new(key) else { continue };
        let mut v = vec![0u8; 256];
        // SAFETY: v is writable for its length.
        let m = unsafe { libc::lgetxattr(p.as_ptr(), k.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        out.push(format!(
            "{}={:?}",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(&v[..m.max(0) as usize])
        ));
    }
    out.join(",")
}
