//! The one parser of getdents64 buffers (struct linux_dirent64: d_ino u64,
//! d_off i64, d_reclen u16, d_type u8, then the NUL-terminated name, padded
//! to 8 bytes). Used by both backends and by the named checks.

/// One record of a getdents64 buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDirent {
    /// The cookie: where iteration resumes after this entry.
    pub d_off: i64,
    /// d_reclen.
    pub reclen: u16,
    /// d_type.
    pub d_type: u8,
    /// The name without its NUL.
    pub name: Vec<u8>,
}

/// Bytes of the fixed part of a record (up to and including d_type).
const HEADER: usize = 19;

/// A getdents64 buffer no caller can walk: the kernel returned a malformed
/// record ([`parse`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Fewer bytes are left than a record's fixed part.
    #[error("a truncated getdents64 record at byte {at} ({left} bytes left)")]
    Truncated {
        /// Byte offset of the record in the buffer.
        at: usize,
        /// Bytes left from there.
        left: usize,
    },
    /// The record's length is too short for its header and a one-byte name
    /// with its NUL, or runs past the buffer.
    #[error("a bad d_reclen {reclen} at byte {at} of a {len}-byte getdents64 buffer")]
    BadReclen {
        /// The record's d_reclen.
        reclen: u16,
        /// Byte offset of the record in the buffer.
        at: usize,
        /// Bytes in the buffer.
        len: usize,
    },
}

/// One record of a getdents64 buffer, borrowed from it ([`records`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirentRef<'a> {
    /// The cookie: where iteration resumes after this entry.
    pub d_off: i64,
    /// d_reclen.
    pub reclen: u16,
    /// d_type.
    pub d_type: u8,
    /// The name without its NUL.
    pub name: &'a [u8],
}

/// The records of a getdents64 buffer (`buf` is exactly the bytes the call
/// returned), in order, without copying. A malformed record (too short for
/// its header and a one-byte name with its NUL, or running past the buffer)
/// is an error naming its byte offset, and the last item: the kernel
/// returned something no caller can walk.
pub fn records(buf: &[u8]) -> impl Iterator<Item = Result<DirentRef<'_>, Malformed>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= buf.len() {
            return None;
        }
        if buf.len() - at < HEADER {
            let left = buf.len() - at;
            let bad = Malformed::Truncated { at, left };
            at = buf.len();
            return Some(Err(bad));
        }
        let rec = &buf[at..];
        let d_off = i64::from_ne_bytes(rec[8..16].try_into().expect("8 bytes"));
        let reclen = u16::from_ne_bytes(rec[16..18].try_into().expect("2 bytes"));
        if (reclen as usize) < HEADER + 2 || at + reclen as usize > buf.len() {
            let bad = Malformed::BadReclen {
                reclen,
                at,
                len: buf.len(),
            };
            at = buf.len();
            return Some(Err(bad));
        }
        let name_area = &rec[HEADER..reclen as usize];
        let len = name_area
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(name_area.len());
        at += reclen as usize;
        Some(Ok(DirentRef {
            d_off,
            reclen,
            d_type: rec[18],
            name: &name_area[..len],
        }))
    })
}

/// Parses the records of a getdents64 buffer into owned records: the first
/// malformed one is the error ([`records`]).
pub fn parse(buf: &[u8]) -> Result<Vec<RawDirent>, Malformed> {
    records(buf)
        .map(|r| {
            r.map(|d| RawDirent {
                d_off: d.d_off,
                reclen: d.reclen,
                d_type: d.d_type,
                name: d.name.to_vec(),
            })
        })
        .collect()
}

/// Bytes per getdents64 call when a whole directory is listed.
pub const CHUNK: usize = 64 << 10;

extern "C" {
    /// glibc's getdents64(3) wrapper (glibc 2.30+), absent from the `libc` crate.
    fn getdents64(fd: libc::c_int, buf: *mut libc::c_void, len: libc::size_t) -> libc::ssize_t;
}

/// Calls getdents64 with a `count`-byte, 8-byte aligned buffer; returns the bytes.
pub fn getdents_raw(fd: std::os::fd::RawFd, count: usize) -> Result<Vec<u8>, i32> {
    // Not zeroed: the kernel writes the n bytes that are read back (zeroing
    // 64 KiB per call was most of a small directory's listing time).
    let mut buf: Vec<u64> = Vec::with_capacity(count.div_ceil(8).max(1));
    Ok(getdents_into(fd, buf.spare_capacity_mut(), count)?.to_vec())
}

/// Calls getdents64 into `buf` (its first `count` bytes at most, whatever
/// they held); returns the bytes the kernel wrote.
pub fn getdents_into(
    fd: std::os::fd::RawFd,
    buf: &mut [std::mem::MaybeUninit<u64>],
    count: usize,
) -> Result<&[u8], i32> {
    let count = count.min(buf.len() * 8);
    // SAFETY: buf holds at least `count` writable bytes.
    let n = unsafe { getdents64(fd, buf.as_mut_ptr().cast(), count) };
    if n < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    // SAFETY: the first n <= count bytes of the buffer, written by the kernel.
    Ok(unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) })
}

/// Every entry of the directory open as `fd` except `.` and `..`, as (name, d_type),
/// read from the descriptor's current position to the end.
pub fn list_dir(fd: std::os::fd::RawFd) -> Result<Vec<(Vec<u8>, u8)>, i32> {
    let mut out = Vec::new();
    loop {
        let bytes = getdents_raw(fd, CHUNK)?;
        if bytes.is_empty() {
            return Ok(out);
        }
        let recs = parse(&bytes).map_err(|_| libc::EIO)?;
        for d in recs {
            if d.name != b"." && d.name != b".." {
                out.push((d.name, d.d_type));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(off: i64, name: &str, reclen: u16) -> Vec<u8> {
        let mut r = vec![0u8; reclen as usize];
        r[8..16].copy_from_slice(&off.to_ne_bytes());
        r[16..18].copy_from_slice(&reclen.to_ne_bytes());
        r[18] = 8;
        r[HEADER..HEADER + name.len()].copy_from_slice(name.as_bytes());
        r
    }

    #[test]
    fn parses_and_reports_malformed_records() {
        let mut b = record(1, "a", 24);
        b.extend(record(2, "bb", 24));
        let recs = parse(&b).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[1].d_off, recs[1].name.as_slice()), (2, &b"bb"[..]));
        // A reclen running past the buffer, one too short, a truncated tail.
        let mut long = record(1, "a", 24);
        long[16..18].copy_from_slice(&40u16.to_ne_bytes());
        assert!(parse(&long)
            .unwrap_err()
            .to_string()
            .contains("bad d_reclen 40 at byte 0"));
        let mut short = record(1, "a", 24);
        short[16..18].copy_from_slice(&19u16.to_ne_bytes());
        assert!(parse(&short).is_err());
        let mut tail = record(1, "a", 24);
        tail.extend([0u8; 10]);
        assert!(parse(&tail).unwrap_err().to_string().contains("truncated"));
        assert_eq!(parse(&[]).unwrap(), vec![]);
    }
}
