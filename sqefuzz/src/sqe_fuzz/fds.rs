//! The process's descriptor table as the sandbox sees it: the scanner of
//! /proc/self/fd and the set it gives.

use std::os::fd::{AsRawFd, FromRawFd as _, RawFd};

/// A set of descriptor numbers: a sorted vector (a process has a few dozen;
/// a B-tree's nodes and walks were a tenth of an input's time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct FdSet(Vec<RawFd>);

impl FdSet {
    /// Adds `fd`; false if it was there.
    pub(super) fn insert(&mut self, fd: RawFd) -> bool {
        match self.0.binary_search(&fd) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, fd);
                true
            }
        }
    }

    /// Takes `fd` out; false if it was not there.
    pub(super) fn remove(&mut self, fd: &RawFd) -> bool {
        match self.0.binary_search(fd) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether `fd` is in.
    pub(super) fn contains(&self, fd: &RawFd) -> bool {
        self.0.binary_search(fd).is_ok()
    }

    /// Whether the set is empty.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The numbers in increasing order.
    pub(super) fn iter(&self) -> std::slice::Iter<'_, RawFd> {
        self.0.iter()
    }

    /// The numbers in `self` and not in `other`, in increasing order.
    pub(super) fn difference<'a>(&'a self, other: &'a FdSet) -> impl Iterator<Item = &'a RawFd> {
        self.0.iter().filter(move |fd| !other.contains(fd))
    }
}

impl FromIterator<RawFd> for FdSet {
    fn from_iter<I: IntoIterator<Item = RawFd>>(iter: I) -> FdSet {
        let mut v: Vec<RawFd> = iter.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        FdSet(v)
    }
}

impl Extend<RawFd> for FdSet {
    fn extend<I: IntoIterator<Item = RawFd>>(&mut self, iter: I) {
        self.0.extend(iter);
        self.0.sort_unstable();
        self.0.dedup();
    }
}

impl IntoIterator for FdSet {
    type Item = RawFd;
    type IntoIter = std::vec::IntoIter<RawFd>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a FdSet {
    type Item = &'a RawFd;
    type IntoIter = std::slice::Iter<'a, RawFd>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

pub(super) fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on any number only reads the fd table.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0
}

/// The open descriptors of the process (from /proc/self/fd, without the one
/// used to list it).
pub(super) fn open_fds() -> FdSet {
    FdScanner::new().map(|mut s| s.scan()).unwrap_or_default()
}

/// Lists the process's open descriptors from /proc/self/fd through one
/// descriptor of it, kept open and read again from the start, into one
/// buffer: no path walk and no allocation per entry (five fresh listings
/// per input cost 140 us of the 830 us an input took).
pub(super) struct FdScanner {
    dir: std::os::fd::OwnedFd,
    buf: Vec<u64>,
}

impl FdScanner {
    pub(super) fn new() -> Option<FdScanner> {
        // SAFETY: a fresh descriptor, owned below.
        let dir = unsafe {
            libc::open(
                c"/proc/self/fd".as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if dir < 0 {
            return None;
        }
        Some(FdScanner {
            // SAFETY: ours, closed once by the OwnedFd.
            dir: unsafe { std::os::fd::OwnedFd::from_raw_fd(dir) },
            buf: Vec::with_capacity(1024),
        })
    }

    /// The descriptors open now, without the scanner's own.
    pub(super) fn scan(&mut self) -> FdSet {
        let dir = self.dir.as_raw_fd();
        let mut out = FdSet::default();
        // SAFETY: lseek on our descriptor.
        unsafe { libc::lseek(dir, 0, libc::SEEK_SET) };
        let len = self.buf.capacity() * 8;
        while let Ok(bytes) = sys::dirent::getdents_into(dir, self.buf.spare_capacity_mut(), len) {
            if bytes.is_empty() {
                break;
            }
            for d in sys::dirent::records(bytes).map_while(Result::ok) {
                if let Some(fd) = std::str::from_utf8(d.name)
                    .ok()
                    .and_then(|n| n.parse::<RawFd>().ok())
                {
                    if fd != dir {
                        out.insert(fd);
                    }
                }
            }
        }
        out
    }
}

pub(super) fn fd_target(fd: RawFd) -> String {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "?".into())
}
