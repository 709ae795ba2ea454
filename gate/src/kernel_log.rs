//! Kernel-log verdicts: everything the guest kernel reports about itself is
//! part of the gate's verdict. A kernel that completes every op correctly
//! but prints a WARNING, a KASAN or UBSAN report, a lockdep splat, a
//! kmemleak leak, an RCU stall or a hung task has failed.
//!
//! [`scan`] reads a whole kernel log (the guest console, or `dmesg`),
//! follows the markers the suite writes to `/dev/kmsg` before each target
//! and check ([`MARK`]), and returns one [`Alarm`] per report: its class,
//! its title, a signature (class and the first function outside the
//! reporting machinery, as syzkaller titles them) to deduplicate and to
//! match a baseline's known alarms, the marker that was current, and an
//! excerpt of the report.

use serde::{Deserialize, Serialize};

pub use sys::kmsg::{mark, marks_enabled, MARK, MARKS_ENV};

/// What kind of report a kernel printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlarmClass {
    /// `WARNING: CPU: n PID: m at file:line func` (WARN_ON and friends).
    Warning,
    /// `kernel BUG at`, `BUG: ...` other than the classes below, Oops.
    Bug,
    /// `BUG: KASAN: ...`: use-after-free, out-of-bounds, double free.
    Kasan,
    /// `UBSAN: ...`: array bounds, shifts.
    Ubsan,
    /// A lockdep report: recursive or circular locking, inconsistent lock
    /// state, a lock held on return to user space, bad unlock balance,
    /// suspicious RCU usage.
    Lockdep,
    /// `BUG: sleeping function called from invalid context`
    /// (DEBUG_ATOMIC_SLEEP), and `BUG: scheduling while atomic`.
    AtomicSleep,
    /// `list_add corruption`, `list_del corruption` (DEBUG_LIST).
    ListCorruption,
    /// `unreferenced object ...` from a kmemleak scan.
    Kmemleak,
    /// `rcu: INFO: ... detected stalls`.
    RcuStall,
    /// `INFO: task ... blocked for more than N seconds`.
    HungTask,
    /// `Kernel panic - not syncing`.
    Panic,
    /// A non-zero `/proc/sys/kernel/tainted` at the end of the run.
    Taint,
}

impl AlarmClass {
    /// The class as in row names: `kernel-log <name>`.
    pub fn name(self) -> &'static str {
        match self {
            AlarmClass::Warning => "warning",
            AlarmClass::Bug => "bug",
            AlarmClass::Kasan => "kasan",
            AlarmClass::Ubsan => "ubsan",
            AlarmClass::Lockdep => "lockdep",
            AlarmClass::AtomicSleep => "atomic-sleep",
            AlarmClass::ListCorruption => "list-corruption",
            AlarmClass::Kmemleak => "kmemleak",
            AlarmClass::RcuStall => "rcu-stall",
            AlarmClass::HungTask => "hung-task",
            AlarmClass::Panic => "panic",
            AlarmClass::Taint => "taint",
        }
    }
}

/// One report the kernel printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// What kind of report.
    pub class: AlarmClass,
    /// The report's first line, without the timestamp.
    pub title: String,
    /// Class and the first function outside the reporting code, e.g.
    /// `kasan: use-after-free in io_getdents64`: what baselines list and
    /// duplicates share.
    pub signature: String,
    /// What was running: the text of the last marker before the report
    /// (empty before the first marker: boot).
    pub during: String,
    /// The report's lines (at most [`EXCERPT_LINES`]), timestamps removed.
    pub excerpt: Vec<String>,
}

/// The longest excerpt kept of one report.
pub const EXCERPT_LINES: usize = 60;

/// A log line without its `[   12.345678]` timestamp and `[T123]`/`[C1]`
/// caller id.
pub fn strip_prefix(line: &str) -> &str {
    let mut l = line.trim_end_matches('\r');
    for _ in 0..2 {
        let t = l.trim_start();
        if let Some(rest) = t.strip_prefix('[') {
            if let Some(end) = rest.find(']') {
                let inner = rest[..end].trim();
                let stamp = !inner.is_empty()
                    && inner
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '.' || c == ' ')
                    || (inner.len() > 1
                        && (inner.starts_with('T') || inner.starts_with('C'))
                        && inner[1..].chars().all(|c| c.is_ascii_digit()));
                if stamp {
                    l = rest[end + 1..]
                        .strip_prefix(' ')
                        .unwrap_or(&rest[end + 1..]);
                    continue;
                }
            }
        }
        break;
    }
    l
}

/// The class of a report starting at `line` (timestamp stripped), if it is
/// the first line of one.
fn classify(line: &str) -> Option<AlarmClass> {
    const LOCKDEP: &[&str] = &[
        "WARNING: possible recursive locking detected",
        "WARNING: possible circular locking dependency detected",
        "WARNING: inconsistent lock state",
        "WARNING: lock held when returning to user space",
        "WARNING: bad unlock balance detected",
        "WARNING: suspicious RCU usage",
        "WARNING: possible irq lock inversion dependency detected",
        "WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected",
        "WARNING: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected",
        "WARNING: held lock freed",
        "WARNING: Nested lock was not taken",
        "WARNING: leaked lock",
        "BUG: held lock freed",
        "BUG: workqueue leaked lock",
        "BUG: MAX_LOCKDEP",
        "BUG: looking up invalid subclass",
        "INFO: trying to register non-static key",
    ];
    if LOCKDEP.iter().any(|p| line.starts_with(p))
        // "WARNING: iou-wrk-12/13 still has locks held!": a task (an io-wq
        // worker) exited holding a lock.
        || (line.starts_with("WARNING: ") && line.contains(" still has locks held"))
    {
        return Some(AlarmClass::Lockdep);
    }
    if line.starts_with("BUG: KASAN: ") {
        return Some(AlarmClass::Kasan);
    }
    if line.starts_with("UBSAN: ") {
        return Some(AlarmClass::Ubsan);
    }
    if line.starts_with("BUG: sleeping function called from invalid context")
        || line.starts_with("BUG: scheduling while atomic")
        || line.starts_with("BUG: using smp_processor_id() in preemptible")
    {
        return Some(AlarmClass::AtomicSleep);
    }
    if line.starts_with("list_add corruption")
        || line.starts_with("list_del corruption")
        || line.starts_with("list_add double add")
    {
        return Some(AlarmClass::ListCorruption);
    }
    if line.starts_with("unreferenced object 0x") {
        return Some(AlarmClass::Kmemleak);
    }
    if line.starts_with("rcu: INFO: ") && line.contains("stall") {
        return Some(AlarmClass::RcuStall);
    }
    if line.starts_with("INFO: task ") && line.contains(" blocked for more than ") {
        return Some(AlarmClass::HungTask);
    }
    if line.starts_with("Kernel panic - not syncing") {
        return Some(AlarmClass::Panic);
    }
    if line.starts_with("WARNING: ") {
        return Some(AlarmClass::Warning);
    }
    if line.starts_with("kernel BUG at ")
        || line.starts_with("BUG: ")
        || line.starts_with("Oops: ")
        || line.starts_with("general protection fault")
    {
        return Some(AlarmClass::Bug);
    }
    None
}

/// Whether `line` ends a report of `class` (the line itself included):
/// the end-of-trace line, or KASAN's closing rule of `=`.
fn ends_report(class: AlarmClass, line: &str) -> bool {
    line.starts_with("---[ end trace")
        || line.starts_with("---[ end Kernel panic")
        || (class == AlarmClass::Kasan && line.len() >= 20 && line.bytes().all(|b| b == b'='))
}

/// Frames of the reporting machinery, skipped when naming a report after
/// the first function that is the kernel's own business.
fn reporting_frame(func: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "dump_stack",
        "show_stack",
        "print_",
        "printk",
        "_printk",
        "vprintk",
        "report_",
        "kasan_",
        "__kasan",
        "__asan",
        "asan_",
        "check_memory_region",
        "kmsan_",
        "ubsan_",
        "__ubsan",
        "warn_",
        "__warn",
        "handle_bug",
        "exc_",
        "asm_exc_",
        "do_error_trap",
        "do_trap",
        "die",
        "oops_",
        "__die",
        "lock_acquire",
        "lock_release",
        "__lock_acquire",
        "lockdep_",
        "__lockdep",
        "validate_chain",
        "check_",
        "mark_lock",
        "mark_usage",
        "debug_check_",
        "__might_",
        "mutex_lock",
        "mutex_trylock",
        "__mutex_lock",
        "_raw_spin_lock",
        "_raw_read_lock",
        "_raw_write_lock",
        "down_read",
        "down_write",
        "__down",
        "__might_sleep",
        "might_",
        "___might_sleep",
        "__list_add_valid",
        "__list_del_entry_valid",
        "__list_valid_slowpath",
        "kmemleak_",
        "__kmalloc",
        "kmalloc",
        "__kmem_cache",
        "kmem_cache_alloc",
        "kmem_cache_free",
        "slab_",
        "__slab",
        "kfree",
        "__kfree",
        "___slab_alloc",
        "__do_kmalloc",
        "krealloc",
        "kzalloc",
        "kvmalloc",
        "kstrdup",
        "kmemdup",
        "alloc_pages",
        // Allocation helpers a leak's backtrace passes through: the leak
        // is their caller's.
        "getname",
        "alloc_empty_file",
        "__alloc_file",
        "d_alloc",
        "__d_alloc",
        "alloc_inode",
        "__alloc_pages",
        "__alloc_frozen_pages",
        "rcu_",
        "panic",
        "__schedule",
        "schedule",
        "entry_SYSCALL",
        "do_syscall",
        "x64_sys_call",
        "ret_from_fork",
        "kthread",
    ];
    PREFIXES.iter().any(|p| func.starts_with(p))
}

/// The function of a stack-trace line (" io_issue_sqe+0x1d/0x400",
/// " ? foo+0x1/0x2", "RIP: 0010:foo+0x1/0x2", "[<ffff...>] foo+0x..."), if
/// it is one.
fn frame_function(line: &str) -> Option<&str> {
    let l = line.trim();
    let l = l.strip_prefix("RIP: 0010:").unwrap_or(l);
    let l = l.strip_prefix("? ").unwrap_or(l);
    // Lockdep's held-lock lines: "#0: ffff... (&f->f_pos_lock){+.+.}, at: foo+0x1/0x2".
    let l = l.rsplit_once(", at: ").map_or(l, |x| x.1);
    // kmemleak backtraces: "[<ffffffff81234567>] foo+0x1/0x2" or "foo+0x..".
    let l = match l.strip_prefix("[<") {
        Some(rest) => rest.split_once(">] ")?.1,
        None => l,
    };
    let (func, rest) = l.split_once("+0x")?;
    if func.is_empty() || func.contains(' ') || !rest.contains("/0x") {
        return None;
    }
    Some(func)
}

/// The function a title names: "... in func+0x..", "... at file:line
/// func+0x..".
fn title_function(title: &str) -> Option<&str> {
    title
        .split_whitespace()
        .rev()
        .find_map(|w| w.split_once("+0x").map(|(f, _)| f))
        .filter(|f| !f.is_empty())
}

/// What a report's signature says about it: the class and its kind
/// ("use-after-free", "possible recursive locking detected", ...).
fn kind_of(class: AlarmClass, title: &str) -> String {
    let t = title.trim();
    let kind = match class {
        AlarmClass::Kasan => t
            .strip_prefix("BUG: KASAN: ")
            .and_then(|r| r.split(" in ").next())
            .unwrap_or(t),
        AlarmClass::Ubsan => t
            .strip_prefix("UBSAN: ")
            .and_then(|r| r.split(" in ").next())
            .unwrap_or(t),
        AlarmClass::Lockdep if t.contains(" still has locks held") => "task still has locks held",
        AlarmClass::Lockdep | AlarmClass::AtomicSleep | AlarmClass::ListCorruption => t
            .trim_start_matches("WARNING: ")
            .trim_start_matches("BUG: ")
            .split(['!', '.', ':'])
            .next()
            .map(|k| k.split(" at ").next().unwrap_or(k))
            .unwrap_or(t),
        AlarmClass::Kmemleak => "leak",
        AlarmClass::RcuStall => "stall",
        AlarmClass::HungTask => "blocked task",
        AlarmClass::Warning => "WARNING",
        AlarmClass::Bug => t.split(['!', ':']).next().unwrap_or(t),
        AlarmClass::Panic => "panic",
        AlarmClass::Taint => "tainted",
    };
    format!("{}: {}", class.name(), kind.trim())
}

/// Reads a whole kernel log and returns its alarms in order (see the
/// module documentation). Markers are lines containing [`MARK`].
pub fn scan(log: &str) -> Vec<Alarm> {
    let lines: Vec<&str> = log.lines().map(strip_prefix).collect();
    let mut alarms = Vec::new();
    let mut during = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(at) = line.find(MARK) {
            during = line[at + MARK.len()..].trim().to_string();
            i += 1;
            continue;
        }
        let Some(class) = classify(line) else {
            i += 1;
            continue;
        };
        // The report runs to its end line, the next report or marker, or
        // EXCERPT_LINES lines.
        let mut end = i + 1;
        while end < lines.len() && end - i < EXCERPT_LINES {
            let l = lines[end];
            if l.contains(MARK) || classify(l).is_some() {
                break;
            }
            end += 1;
            if ends_report(class, l) {
                break;
            }
        }
        let excerpt: Vec<String> = lines[i..end].iter().map(|s| s.to_string()).collect();
        let func = match class {
            // The WARNING and KASAN titles name the function themselves.
            AlarmClass::Warning | AlarmClass::Kasan => title_function(line)
                .filter(|f| !reporting_frame(f))
                .map(str::to_string)
                .or_else(|| first_own_frame(&excerpt[1..])),
            _ => first_own_frame(&excerpt[1..]),
        };
        let signature = match func {
            Some(f) => format!("{} in {f}", kind_of(class, line)),
            None => kind_of(class, line),
        };
        alarms.push(Alarm {
            class,
            title: line.trim().to_string(),
            signature,
            during: during.clone(),
            excerpt,
        });
        i = end;
    }
    alarms
}

fn first_own_frame(lines: &[String]) -> Option<String> {
    lines
        .iter()
        .filter_map(|l| frame_function(l))
        .find(|f| !reporting_frame(f))
        .map(str::to_string)
}

/// The alarm for a non-zero `/proc/sys/kernel/tainted` value.
pub fn taint_alarm(value: u64, during: &str) -> Option<Alarm> {
    if value == 0 {
        return None;
    }
    // Documentation/admin-guide/tainted-kernels.rst, bit by bit.
    const FLAGS: &[(u32, &str)] = &[
        (0, "P proprietary module"),
        (1, "F forced module load"),
        (2, "S out of spec system"),
        (3, "R forced module unload"),
        (4, "M machine check"),
        (5, "B bad page"),
        (6, "U user request"),
        (7, "D died (oops or BUG)"),
        (8, "A ACPI table overridden"),
        (9, "W warning"),
        (10, "C staging driver"),
        (11, "I firmware workaround"),
        (12, "O out-of-tree module"),
        (13, "E unsigned module"),
        (14, "L soft lockup"),
        (15, "K live patched"),
        (16, "X auxiliary"),
        (17, "T randstruct"),
        (18, "N test module"),
        (19, "J fwctl"),
    ];
    let named: Vec<&str> = FLAGS
        .iter()
        .filter(|(bit, _)| value & (1 << bit) != 0)
        .map(|(_, n)| *n)
        .collect();
    let title = format!("kernel tainted: {value} ({})", named.join(", "));
    Some(Alarm {
        class: AlarmClass::Taint,
        signature: format!("taint: {value}"),
        title: title.clone(),
        during: during.to_string(),
        excerpt: vec![title],
    })
}

/// The row opcode of kernel-log rows: `kernel-log <class>` in reports.
pub const ROW_OPCODE: &str = "kernel-log";

/// Lines of a report's excerpt kept in its row.
const ROW_EXCERPT: usize = 30;

/// One failing row per distinct alarm (class and signature), in the order
/// first seen. The row's target is the signature without its class (what a
/// baseline lists to accept a known alarm), its property the class; its
/// failures say how often it came, during what (the suite's markers) and
/// the first report's excerpt.
pub fn alarm_rows(alarms: &[Alarm]) -> Vec<super::Row> {
    let mut rows: Vec<(super::Row, Vec<String>)> = Vec::new();
    for a in alarms {
        let target = a
            .signature
            .split_once(": ")
            .map_or(a.signature.as_str(), |x| x.1)
            .to_string();
        let during = if a.during.is_empty() {
            "boot".to_string()
        } else {
            a.during.clone()
        };
        match rows
            .iter_mut()
            .find(|(r, _)| r.property == a.class.name() && r.target == target)
        {
            Some((r, seen)) => {
                r.counts.fail += 1;
                if !seen.contains(&during) {
                    seen.push(during);
                }
            }
            None => {
                let excerpt: Vec<&str> = a
                    .excerpt
                    .iter()
                    .take(ROW_EXCERPT)
                    .map(String::as_str)
                    .collect();
                let row = super::Row {
                    opcode: ROW_OPCODE.to_string(),
                    property: a.class.name().to_string(),
                    filesystem: "-".to_string(),
                    target,
                    status: super::Status::Fail,
                    counts: super::Counts {
                        fail: 1,
                        ..super::Counts::default()
                    },
                    failures: vec![a.title.clone(), excerpt.join("\n")],
                    note: None,
                };
                rows.push((row, vec![during]));
            }
        }
    }
    rows.into_iter()
        .map(|(mut r, seen)| {
            r.failures.insert(
                0,
                format!(
                    "{} report(s) of {} during {}",
                    r.counts.fail,
                    r.property,
                    seen.join(", ")
                ),
            );
            r
        })
        .collect()
}

/// The kmemleak control file (debugfs).
const KMEMLEAK: &str = "/sys/kernel/debug/kmemleak";

/// When [`marks_enabled`] and the kernel has kmemleak: forces a scan, copies
/// the unreferenced objects it lists into the kernel log (after a marker
/// naming `after`), and clears the list so the next scan reports only new
/// leaks. Returns how many objects were reported.
pub fn kmemleak_scan(after: &str) -> usize {
    if !marks_enabled() || !std::path::Path::new(KMEMLEAK).exists() {
        return 0;
    }
    let write = |cmd: &str| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(KMEMLEAK)
            .and_then(|mut f| {
                use std::io::Write;
                f.write_all(cmd.as_bytes())
            })
    };
    // Objects younger than kmemleak's minimum age (5 s) are not reported
    // yet: wait that out once, so the target's own leaks are in this scan;
    // an object is reported once two scans found it unreferenced.
    std::thread::sleep(std::time::Duration::from_millis(5200));
    if write("scan").is_err() || write("scan").is_err() {
        return 0;
    }
    let text = std::fs::read_to_string(KMEMLEAK).unwrap_or_default();
    let n = text
        .lines()
        .filter(|l| l.starts_with("unreferenced object"))
        .count();
    if n > 0 {
        mark(&format!("kmemleak scan after {after}"));
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
            use std::io::Write;
            for l in text.lines() {
                let _ = f.write_all(format!("{l}\n").as_bytes());
            }
        }
    }
    let _ = write("clear");
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    const WARNING: &str = "\
[   10.000000] ringspec-mark: uring/single scenarios
[   12.345678] ------------[ cut here ]------------
[   12.345679] WARNING: CPU: 1 PID: 253 at io_uring/io_uring.c:1234 io_issue_sqe+0x1d/0x400
[   12.345680] Modules linked in:
[   12.345681] CPU: 1 UID: 0 PID: 253 Comm: ringspec Not tainted 6.12.118-gate-debug #1
[   12.345682] RIP: 0010:io_issue_sqe+0x1d/0x400
[   12.345683] Call Trace:
[   12.345684]  <TASK>
[   12.345685]  ? __warn+0x80/0x100
[   12.345686]  io_submit_sqes+0x100/0x200
[   12.345687]  </TASK>
[   12.345688] ---[ end trace 0000000000000000 ]---
[   12.400000] ringspec-mark: uring/async scenarios
";

    #[test]
    fn a_warning_is_named_after_its_function_and_the_marker() {
        let a = scan(WARNING);
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0].class, AlarmClass::Warning);
        assert_eq!(a[0].signature, "warning: WARNING in io_issue_sqe");
        assert_eq!(a[0].during, "uring/single scenarios");
        assert!(a[0].excerpt.last().unwrap().starts_with("---[ end trace"));
        assert!(a[0].title.starts_with("WARNING: CPU: 1 PID: 253"));
    }

    #[test]
    fn kasan_lockdep_kmemleak_ubsan_and_stalls_are_told_apart() {
        let log = "\
[    1.0] ringspec-mark: check getdents_cursor
[    2.0] ==================================================================
[    2.1] BUG: KASAN: slab-use-after-free in io_getdents64+0x12/0x80
[    2.2] Read of size 8 at addr ffff888004c3a000 by task ringspec/99
[    2.3] Call Trace:
[    2.4]  dump_stack_lvl+0x1/0x2
[    2.5]  print_report+0x1/0x2
[    2.6]  kasan_report+0x1/0x2
[    2.7]  io_getdents64+0x12/0x80
[    2.8] ==================================================================
[    3.0] ringspec-mark: uring/linked sequences
[    3.1] ============================================
[    3.2] WARNING: possible recursive locking detected
[    3.3] 6.12.118-gate-debug #1 Not tainted
[    3.4] --------------------------------------------
[    3.5] ringspec/120 is trying to acquire lock:
[    3.6] Call Trace:
[    3.7]  dump_stack_lvl+0x1/0x2
[    3.8]  __lock_acquire+0x1/0x2
[    3.9]  lock_acquire+0x1/0x2
[    3.91]  mutex_lock_nested+0x1/0x2
[    3.92]  io_copy_file_range+0x40/0x100
[    4.0] UBSAN: shift-out-of-bounds in io_uring/rw.c:12:5
[    4.1] shift exponent 64 is too large for 64-bit type 'long long unsigned int'
[    4.2] Call Trace:
[    4.3]  __ubsan_handle_shift_out_of_bounds+0x1/0x2
[    4.4]  io_prep_rw+0x1/0x2
[    5.0] ringspec-mark: kmemleak scan after uring/single
[    5.1] unreferenced object 0xffff888003f0e000 (size 4096):
[    5.2]   comm \"ringspec\", pid 120, jiffies 4294937296
[    5.3]   backtrace (crc 0):
[    5.4]     kmemleak_alloc+0x1/0x2
[    5.5]     __kmalloc_noprof+0x1/0x2
[    5.6]     getname_flags+0x1/0x2
[    5.7]     io_mknodat_prep+0x1/0x2
[    6.0] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:
[    7.0] INFO: task ringspec:120 blocked for more than 300 seconds.
[    8.0] BUG: sleeping function called from invalid context at kernel/locking/mutex.c:585
[    8.1] Call Trace:
[    8.2]  __might_resched+0x1/0x2
[    8.3]  mutex_lock_nested+0x1/0x2
[    8.4]  io_getdents64+0x1/0x2
[    9.0] WARNING: iou-wrk-120/121 still has locks held!
[    9.1] 1 lock held by iou-wrk-120/121:
[    9.2]  #0: ffff888 (&f->f_pos_lock){+.+.}-{4:4}, at: io_getdents64+0x1/0x2
";
        let a = scan(log);
        let sigs: Vec<(&str, &str)> = a
            .iter()
            .map(|x| (x.signature.as_str(), x.during.as_str()))
            .collect();
        assert_eq!(
            sigs,
            vec![
                (
                    "kasan: slab-use-after-free in io_getdents64",
                    "check getdents_cursor"
                ),
                (
                    "lockdep: possible recursive locking detected in io_copy_file_range",
                    "uring/linked sequences"
                ),
                (
                    "ubsan: shift-out-of-bounds in io_prep_rw",
                    "uring/linked sequences"
                ),
                (
                    "kmemleak: leak in io_mknodat_prep",
                    "kmemleak scan after uring/single"
                ),
                ("rcu-stall: stall", "kmemleak scan after uring/single"),
                (
                    "hung-task: blocked task",
                    "kmemleak scan after uring/single"
                ),
                (
                    "atomic-sleep: sleeping function called from invalid context in io_getdents64",
                    "kmemleak scan after uring/single"
                ),
                (
                    "lockdep: task still has locks held in io_getdents64",
                    "kmemleak scan after uring/single"
                ),
            ]
        );
    }

    #[test]
    fn a_clean_log_has_no_alarm() {
        let log = "\
[    0.000000] Linux version 6.12.118-gate (root@host) #1 SMP
[    0.100000] kmemleak: Kernel memory leak detector initialized (mem pool available: 15679)
[    1.000000] ringspec-mark: uring/single scenarios
[    2.000000] EXT4-fs (loop0): mounted filesystem with ordered data mode.
[    3.000000] BTRFS info (device loop1): first mount of filesystem
";
        assert!(scan(log).is_empty());
    }

    #[test]
    fn timestamps_and_caller_ids_are_stripped() {
        assert_eq!(strip_prefix("[   12.345678] WARNING: x"), "WARNING: x");
        assert_eq!(strip_prefix("[   12.345678][ T253] BUG: y"), "BUG: y");
        assert_eq!(strip_prefix("[    1.0] [T1] BUG: y"), "BUG: y");
        assert_eq!(strip_prefix("plain"), "plain");
        assert_eq!(
            strip_prefix("[<ffffffff>] foo+0x1/0x2"),
            "[<ffffffff>] foo+0x1/0x2"
        );
    }

    #[test]
    fn taint_names_its_flags() {
        assert!(taint_alarm(0, "").is_none());
        let a = taint_alarm((1 << 9) | (1 << 7), "uring/single").unwrap();
        assert_eq!(a.class, AlarmClass::Taint);
        assert!(
            a.title.contains("D died") && a.title.contains("W warning"),
            "{}",
            a.title
        );
    }

    #[test]
    fn one_row_per_signature_naming_where_it_came() {
        let log = format!(
            "{WARNING}{}",
            WARNING.replace("uring/single", "uring/fixed")
        );
        let rows = alarm_rows(&scan(&log));
        assert_eq!(rows.len(), 1, "{rows:?}");
        let r = &rows[0];
        assert_eq!(
            (
                r.opcode.as_str(),
                r.property.as_str(),
                r.filesystem.as_str()
            ),
            (ROW_OPCODE, "warning", "-")
        );
        assert_eq!(r.target, "WARNING in io_issue_sqe");
        assert_eq!(r.status, crate::Status::Fail);
        assert_eq!(r.counts.fail, 2);
        assert_eq!(
            r.failures[0],
            "2 report(s) of warning during uring/single scenarios, uring/fixed scenarios"
        );
        assert!(
            r.failures[2].contains("RIP: 0010:io_issue_sqe"),
            "{:?}",
            r.failures
        );
    }
}
