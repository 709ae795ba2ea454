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

/// Parses the records of a getdents64 buffer (`buf` is exactly the bytes the
/// call returned). A malformed record (too short for its header and a
/// one-byte name with its NUL, or running past the buffer) is an error
/// naming its byte offset: the kernel returned something no caller can walk.
pub fn parse(buf: &[u8]) -> Result<Vec<RawDirent>, String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < buf.len() {
        if buf.len() - at < HEADER {
            return Err(format!(
                "a truncated getdents64 record at byte {at} ({} bytes left)",
                buf.len() - at
            ));
        }
        let rec = &buf[at..];
        let d_off = i64::from_ne_bytes(rec[8..16].try_into().expect("8 bytes"));
        let reclen = u16::from_ne_bytes(rec[16..18].try_into().expect("2 bytes"));
        if (reclen as usize) < HEADER + 2 || at + reclen as usize > buf.len() {
            return Err(format!(
                "a bad d_reclen {reclen} at byte {at} of a {}-byte getdents64 buffer",
                buf.len()
            ));
        }
        let name_area = &rec[HEADER..reclen as usize];
        let len = name_area
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(name_area.len());
        out.push(RawDirent {
            d_off,
            reclen,
            d_type: rec[18],
            name: name_area[..len].to_vec(),
        });
        at += reclen as usize;
    }
    Ok(out)
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
            .contains("bad d_reclen 40 at byte 0"));
        let mut short = record(1, "a", 24);
        short[16..18].copy_from_slice(&19u16.to_ne_bytes());
        assert!(parse(&short).is_err());
        let mut tail = record(1, "a", 24);
        tail.extend([0u8; 10]);
        assert!(parse(&tail).unwrap_err().contains("truncated"));
        assert_eq!(parse(&[]).unwrap(), vec![]);
    }
}
