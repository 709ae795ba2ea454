//! Latency of the proposed io_uring opcodes against their synchronous
//! syscalls, measured in one run on the same files (`ringspec-bench`, meant
//! to run inside the gate's guest: `scripts/bench-proposed.sh`).
//!
//! For each opcode: the syscall through the C library, then the opcode one
//! request at a time (submit, wait for the CQE: the latency a blocking caller
//! sees), then [`BATCH`] requests per submission (throughput per op). The
//! ratio is io_uring time per op over syscall time per op (below 1: io_uring
//! is faster). The opcodes are issued from io-wq (REQ_F_FORCE_ASYNC), so a
//! ratio above 1 at depth 1 is the price of the worker hand-off. Each
//! measurement runs [`REPEATS`] times and keeps the fastest figure per column.

use backends::sqe::{DevField, FdOperand, ProposedOpcodes, Sqe, SqeEntry};
use io_uring::IoUring;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Requests per submission in the batched measurement.
pub const BATCH: usize = 16;

/// One opcode's figures (microseconds per op).
#[derive(Debug, Clone)]
pub struct BenchRow {
    /// What was measured.
    pub what: String,
    /// Operations per measurement.
    pub ops: usize,
    /// The syscall, µs per op.
    pub syscall_us: f64,
    /// The opcode one request at a time, µs per op.
    pub uring_us: f64,
    /// The opcode [`BATCH`] requests per submission, µs per op.
    pub uring_batch_us: f64,
}

impl BenchRow {
    /// io_uring (depth 1) over syscall.
    pub fn ratio(&self) -> f64 {
        self.uring_us / self.syscall_us
    }

    /// io_uring (batched) over syscall.
    pub fn batch_ratio(&self) -> f64 {
        self.uring_batch_us / self.syscall_us
    }
}

/// Why a measurement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The opcode is not configured or not supported here.
    #[error(transparent)]
    Opcode(#[from] crate::checks::OpcodeError),
    /// A file of the measurement could not be opened.
    #[error("open {path}: {source}")]
    Open {
        /// The file, relative to the measurement's directory.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A call failed ("io_uring_setup", "io_uring_enter", "mknodat").
    #[error(transparent)]
    Call(#[from] sys::call::CallFailed),
    /// Writing the source file of the copies failed or was short.
    #[error("write failed")]
    Write,
    /// A syscall gave another result than the measurement needs.
    #[error("{call} gave {result}")]
    Syscall {
        /// The syscall.
        call: &'static str,
        /// Its result.
        result: i64,
    },
    /// The submission queue had no room for a request.
    #[error("submission queue full")]
    QueueFull,
    /// A request completed with another result than the measurement needs.
    #[error("a request gave {0}")]
    Request(i32),
    /// Fewer or more completions than requests came.
    #[error("{seen} CQEs for {requests} requests")]
    Completions {
        /// Completions seen.
        seen: usize,
        /// Requests submitted.
        requests: usize,
    },
}

fn us(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / n as f64
}

fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL")
}

fn open(dir: RawFd, path: &str, flags: i32) -> Result<OwnedFd, BenchError> {
    // SAFETY: a valid C string; the fd is owned below.
    let fd = unsafe { libc::openat(dir, c(path).as_ptr(), flags | libc::O_CLOEXEC, 0o644) };
    if fd < 0 {
        return Err(BenchError::Open {
            path: path.to_string(),
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Submits `sqes` in groups of `depth` and waits for each group; fails on a
/// result that is not `ok(res)`.
fn ring_run(
    ring: &mut IoUring,
    sqes: &[Sqe],
    depth: usize,
    ok: impl Fn(i32) -> bool,
) -> Result<Duration, BenchError> {
    let start = Instant::now();
    for group in sqes.chunks(depth) {
        {
            let mut sq = ring.submission();
            for s in group {
                // SAFETY: the buffers and paths the SQEs point to outlive the call.
                unsafe { sq.push(&s.to_entry()).map_err(|_| BenchError::QueueFull)? };
            }
        }
        ring.submit_and_wait(group.len())
            .map_err(|e| sys::call::CallFailed::new("io_uring_enter", e))?;
        let mut seen = 0;
        for cqe in ring.completion() {
            seen += 1;
            if !ok(cqe.result()) {
                return Err(BenchError::Request(cqe.result()));
            }
        }
        if seen != group.len() {
            return Err(BenchError::Completions {
                seen,
                requests: group.len(),
            });
        }
    }
    Ok(start.elapsed())
}

/// copy_file_range of 4 KiB between explicit offsets of two files.
/// A fresh ring of 64 entries for a measurement.
fn new_ring() -> Result<IoUring, BenchError> {
    Ok(IoUring::new(64).map_err(|e| sys::call::CallFailed::new("io_uring_setup", e))?)
}

fn bench_cfr(dir: RawFd, code: u8, n: usize) -> Result<BenchRow, BenchError> {
    let src = open(dir, "bench_src", libc::O_CREAT | libc::O_RDWR)?;
    let dst = open(dir, "bench_dst", libc::O_CREAT | libc::O_RDWR)?;
    let data = vec![0x5au8; 64 * 1024];
    // SAFETY: valid fd and buffer.
    if unsafe { libc::write(src.as_raw_fd(), data.as_ptr().cast(), data.len()) }
        != data.len() as isize
    {
        return Err(BenchError::Write);
    }
    let len = 4096usize;
    let start = Instant::now();
    for i in 0..n {
        let mut oi = ((i % 16) * len) as i64;
        let mut oo = oi;
        // SAFETY: valid fds and offset pointers.
        let r = unsafe {
            libc::copy_file_range(src.as_raw_fd(), &mut oi, dst.as_raw_fd(), &mut oo, len, 0)
        };
        if r != len as isize {
            return Err(BenchError::Syscall {
                call: "copy_file_range",
                result: r as i64,
            });
        }
    }
    let sys = start.elapsed();
    let sqes: Vec<Sqe> = (0..n)
        .map(|i| {
            let o = ((i % 16) * len) as i64;
            Sqe::copy_file_range(
                code,
                FdOperand::Plain(src.as_raw_fd()),
                o,
                FdOperand::Plain(dst.as_raw_fd()),
                o,
                len as u32,
                0,
            )
        })
        .collect();
    let mut ring = new_ring()?;
    let d1 = ring_run(&mut ring, &sqes, 1, |r| r == len as i32)?;
    let db = ring_run(&mut ring, &sqes, BATCH, |r| r == len as i32)?;
    Ok(BenchRow {
        what: "copy_file_range 4 KiB, explicit offsets".into(),
        ops: n,
        syscall_us: us(sys, n),
        uring_us: us(d1, n),
        uring_batch_us: us(db, n),
    })
}

/// Descriptions opened at a time by [`bench_getdents`] (below RLIMIT_NOFILE).
const FD_CHUNK: usize = 256;

/// getdents64 of a 64-entry directory into a 32 KiB buffer, each time on a
/// description of its own (opened beforehand, outside the timing, at
/// position 0), in chunks of [`FD_CHUNK`] descriptions.
fn bench_getdents(dir: RawFd, code: u8, n: usize) -> Result<BenchRow, BenchError> {
    // SAFETY: a valid C string.
    unsafe { libc::mkdirat(dir, c("bench_dir").as_ptr(), 0o755) };
    let d = open(dir, "bench_dir", libc::O_RDONLY | libc::O_DIRECTORY)?;
    for i in 0..64 {
        // SAFETY: as above.
        unsafe {
            libc::mknodat(
                d.as_raw_fd(),
                c(&format!("entry{i:02}")).as_ptr(),
                libc::S_IFREG | 0o644,
                0,
            )
        };
    }
    let open_some = |k: usize| -> Result<Vec<OwnedFd>, BenchError> {
        (0..k)
            .map(|_| open(dir, "bench_dir", libc::O_RDONLY | libc::O_DIRECTORY))
            .collect()
    };
    let chunks: Vec<usize> = (0..n)
        .step_by(FD_CHUNK)
        .map(|i| FD_CHUNK.min(n - i))
        .collect();
    let mut buf = vec![0u64; 4096 * BATCH];
    let mut sys = Duration::ZERO;
    for &k in &chunks {
        let fds = open_some(k)?;
        let start = Instant::now();
        for f in &fds {
            // SAFETY: valid fd and buffer.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_getdents64,
                    f.as_raw_fd(),
                    buf.as_mut_ptr(),
                    32768usize,
                )
            };
            if r <= 0 {
                return Err(BenchError::Syscall {
                    call: "getdents64",
                    result: r,
                });
            }
        }
        sys += start.elapsed();
    }
    let mut ring = new_ring()?;
    let base = buf.as_mut_ptr() as u64;
    let mut run = |depth: usize| -> Result<Duration, BenchError> {
        let mut total = Duration::ZERO;
        for &k in &chunks {
            let fds = open_some(k)?;
            // One 32 KiB buffer per request in flight.
            let sqes: Vec<Sqe> = fds
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let b = base + ((i % depth) * 32768) as u64;
                    Sqe::getdents64(code, FdOperand::Plain(f.as_raw_fd()), b, 32768)
                })
                .collect();
            total += ring_run(&mut ring, &sqes, depth, |r| r > 0)?;
        }
        Ok(total)
    };
    let d1 = run(1)?;
    let db = run(BATCH)?;
    drop(buf);
    Ok(BenchRow {
        what: "getdents64 of 64 entries, 32 KiB buffer".into(),
        ops: n,
        syscall_us: us(sys, n),
        uring_us: us(d1, n),
        uring_batch_us: us(db, n),
    })
}

/// mknodat of a FIFO under a new name (the names are removed between runs,
/// outside the timing).
fn bench_mknod(dir: RawFd, code: u8, n: usize) -> Result<BenchRow, BenchError> {
    let names: Vec<CString> = (0..n).map(|i| c(&format!("bench_fifo{i}"))).collect();
    let clean = || {
        for p in &names {
            // SAFETY: a valid C string.
            unsafe { libc::unlinkat(dir, p.as_ptr(), 0) };
        }
    };
    let start = Instant::now();
    for p in &names {
        // SAFETY: as above.
        if unsafe { libc::mknodat(dir, p.as_ptr(), libc::S_IFIFO | 0o600, 0) } != 0 {
            return Err(sys::call::CallFailed::last("mknodat").into());
        }
    }
    let sys = start.elapsed();
    clean();
    let sqes: Vec<Sqe> = names
        .iter()
        .map(|p| {
            Sqe::mknodat(
                code,
                dir,
                p.as_ptr() as u64,
                libc::S_IFIFO | 0o600,
                0,
                DevField::Off,
            )
        })
        .collect();
    let mut ring = new_ring()?;
    let d1 = ring_run(&mut ring, &sqes, 1, |r| r == 0)?;
    clean();
    let db = ring_run(&mut ring, &sqes, BATCH, |r| r == 0)?;
    clean();
    Ok(BenchRow {
        what: "mknodat of a FIFO".into(),
        ops: n,
        syscall_us: us(sys, n),
        uring_us: us(d1, n),
        uring_batch_us: us(db, n),
    })
}

/// How often each measurement is repeated; the row keeps the fastest figure
/// of each column (the least disturbed by the rest of the machine).
pub const REPEATS: usize = 3;

/// The fastest of each column over `rows`.
fn best(rows: Vec<BenchRow>) -> BenchRow {
    let mut b = rows[0].clone();
    for r in &rows[1..] {
        b.syscall_us = b.syscall_us.min(r.syscall_us);
        b.uring_us = b.uring_us.min(r.uring_us);
        b.uring_batch_us = b.uring_batch_us.min(r.uring_batch_us);
    }
    b
}

/// Runs the three measurements (`n` ops each, [`REPEATS`] times) in `dir`
/// (each repetition in a fresh subdirectory); an opcode that is not configured
/// or not supported is an error naming it.
pub fn run(dir: RawFd, p: &ProposedOpcodes, n: usize) -> Vec<Result<BenchRow, BenchError>> {
    use model::OpKind;
    type Bench = fn(RawFd, u8, usize) -> Result<BenchRow, BenchError>;
    let benches: [(OpKind, Bench); 3] = [
        (OpKind::CopyFileRange, bench_cfr),
        (OpKind::Getdents, bench_getdents),
        (OpKind::Mknod, bench_mknod),
    ];
    let mut out = Vec::new();
    for (i, (kind, bench)) in benches.into_iter().enumerate() {
        let code = match crate::checks::opcode_number(kind, p) {
            Ok(c) => c,
            Err(e) => {
                out.push(Err(e.into()));
                continue;
            }
        };
        let mut rows = Vec::new();
        for rep in 0..REPEATS {
            let name = format!("rep{i}_{rep}");
            // SAFETY: a valid C string.
            unsafe { libc::mkdirat(dir, c(&name).as_ptr(), 0o755) };
            let sub = match open(dir, &name, libc::O_RDONLY | libc::O_DIRECTORY) {
                Ok(s) => s,
                Err(e) => {
                    rows.clear();
                    out.push(Err(e));
                    break;
                }
            };
            match bench(sub.as_raw_fd(), code, n) {
                Ok(r) => rows.push(r),
                Err(e) => {
                    rows.clear();
                    out.push(Err(e));
                    break;
                }
            }
        }
        if !rows.is_empty() {
            out.push(Ok(best(rows)));
        }
    }
    out
}

/// The rows as a markdown table.
pub fn table(rows: &[BenchRow]) -> String {
    let mut s = format!(
        "| op | ops | syscall µs/op | io_uring depth 1 µs/op | ratio | io_uring depth {BATCH} µs/op | ratio |\n|---|---:|---:|---:|---:|---:|---:|\n"
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            r.what,
            r.ops,
            r.syscall_us,
            r.uring_us,
            r.ratio(),
            r.uring_batch_us,
            r.batch_ratio()
        ));
    }
    s
}
