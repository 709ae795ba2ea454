//! Each op as its system call in C, through syscall(2): what the syscalls
//! target (and io_uring's synchronous fallback) runs, with the same
//! arguments the backend's C library call receives. Flag and mode values are
//! computed by the backend's own helpers, so the numbers live there.

use backends::syscalls::{
    advice_value, falloc_mode, mknod_mode, open_flags, rename_flags, whence_value, CLOSED_FD,
};
use model::{Dir, FdRef, Off, Op, Payload, SpecialFd};

/// A C string literal of `bytes` (octal escapes for the unprintable, so no
/// escape runs on into the next character).
pub(crate) fn c_str(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        if b == b'"' || b == b'\\' {
            s.push('\\');
            s.push(b as char);
        } else if (0x20..0x7f).contains(&b) && b != b'?' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\{b:03o}"));
        }
    }
    s.push('"');
    s
}

/// A 64-bit integer literal (i64::MIN has no literal of its own).
pub(crate) fn c_i64(v: i64) -> String {
    if v == i64::MIN {
        "(-9223372036854775807LL - 1)".into()
    } else {
        format!("{v}LL")
    }
}

/// The C expression of a dirfd operand.
pub(crate) fn dir(d: Dir) -> String {
    match d {
        Dir::Root => "rs_root".into(),
        Dir::Other => "rs_other".into(),
        Dir::Bad => "-1".into(),
        Dir::Fd(s) => format!("rs_slotfd({s})"),
    }
}

/// The C expression of a descriptor operand.
pub(crate) fn fd(f: FdRef) -> String {
    match f {
        FdRef::Slot(s) => format!("rs_slotfd({s})"),
        FdRef::Special(SpecialFd::Bad) => "-1".into(),
        FdRef::Special(SpecialFd::Root) => "rs_root".into(),
    }
}

/// Whose getdents64 cookies an operand keeps: a slot, RS_SLOTS for the
/// root descriptor, -1 for none.
pub(crate) fn cookie_key(f: FdRef) -> String {
    match f {
        FdRef::Slot(s) => s.to_string(),
        FdRef::Special(SpecialFd::Root) => "RS_SLOTS".into(),
        FdRef::Special(SpecialFd::Bad) => "-1".into(),
    }
}

/// A C expression for a writable buffer holding `bytes`: a filled
/// allocation when every byte is the same, else a copy of a literal.
pub(crate) fn buffer(bytes: &[u8]) -> String {
    match bytes.first() {
        Some(&b) if bytes.iter().all(|&x| x == b) => {
            format!("rs_filled({b}, {})", bytes.len())
        }
        None => "rs_zeroed(1)".into(),
        _ => format!(
            "rs_copy((const unsigned char *){}, {})",
            c_str(bytes),
            bytes.len()
        ),
    }
}

fn payload(p: &Payload) -> String {
    buffer(&p.bytes())
}

/// (has, value) of an offset operand: the file position is "no offset".
fn off(o: Off) -> (u8, String) {
    match o {
        Off::Pos => (0, "0".into()),
        Off::At(v) => (1, c_i64(v)),
    }
}

/// read(2)/write(2) of `len` bytes of the buffer `b`, or pread64/pwrite64
/// at an explicit offset.
fn rw_call(call: &str, f: FdRef, len: u64, offset: Off) -> String {
    match offset {
        Off::Pos => format!("syscall(SYS_{call}, {}, b, (size_t){len})", fd(f)),
        Off::At(v) => format!(
            "syscall(SYS_p{call}64, {}, b, (size_t){len}, {})",
            fd(f),
            c_i64(v)
        ),
    }
}

/// The C statements that run `op` through its system call and fill the
/// outcome `o` (a `struct rs_out`).
pub(crate) fn sync_call(op: &Op) -> String {
    match op {
        Op::Open {
            slot,
            dir: d,
            path,
            flags,
            mode,
        } => format!(
            "rs_open(&o, {slot}, syscall(SYS_openat, {}, {}, {}, {mode}));",
            dir(*d),
            c_str(path.as_bytes()),
            open_flags(flags)
        ),
        Op::Close { fd: FdRef::Slot(s) } => format!("rs_close(&o, {s});"),
        Op::Close { .. } => "o.err = EBADF;".into(),
        Op::Read { fd: f, len, offset } => format!(
            "unsigned char *b = rs_zeroed({len});\n\t\trs_bytes(&o, b, {});",
            rw_call("read", *f, *len, *offset)
        ),
        Op::Write {
            fd: f,
            data,
            offset,
        } => format!(
            "const unsigned char *b = {};\n\t\trs_plain(&o, {});",
            payload(data),
            rw_call("write", *f, data.len(), *offset)
        ),
        Op::Lseek {
            fd: f,
            offset,
            whence,
        } => format!(
            "rs_plain(&o, syscall(SYS_lseek, {}, {}, {}));",
            fd(*f),
            c_i64(*offset),
            whence_value(*whence)
        ),
        Op::SeekDirent { fd: f, entry } => format!(
            "rs_seek_dirent(&o, {}, {}, {entry});",
            cookie_key(*f),
            fd(*f)
        ),
        Op::Ftruncate { fd: f, len } => format!(
            "rs_plain(&o, syscall(SYS_ftruncate, {}, {}));",
            fd(*f),
            c_i64(*len)
        ),
        Op::Fsync { fd: f, datasync } => format!(
            "rs_plain(&o, syscall({}, {}));",
            if *datasync { "SYS_fdatasync" } else { "SYS_fsync" },
            fd(*f)
        ),
        Op::Stat {
            dir: d,
            path,
            follow,
        } => format!(
            "rs_statx(&o, {}, {}, {});",
            dir(*d),
            c_str(path.as_bytes()),
            if *follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW }
        ),
        Op::Fstat { fd: f } => format!(
            "rs_statx(&o, {}, \"\", {});",
            fd(*f),
            libc::AT_EMPTY_PATH
        ),
        Op::Mkdir { dir: d, path, mode } => format!(
            "rs_plain(&o, syscall(SYS_mkdirat, {}, {}, {mode}));",
            dir(*d),
            c_str(path.as_bytes())
        ),
        Op::Unlink {
            dir: d,
            path,
            removedir,
        } => format!(
            "rs_plain(&o, syscall(SYS_unlinkat, {}, {}, {}));",
            dir(*d),
            c_str(path.as_bytes()),
            if *removedir { libc::AT_REMOVEDIR } else { 0 }
        ),
        Op::Rename {
            dir: d,
            path,
            new_dir,
            new_path,
            flags,
        } => format!(
            "rs_plain(&o, syscall(SYS_renameat2, {}, {}, {}, {}, {}u));",
            dir(*d),
            c_str(path.as_bytes()),
            dir(*new_dir),
            c_str(new_path.as_bytes()),
            rename_flags(flags)
        ),
        Op::Link {
            dir: d,
            path,
            new_dir,
            new_path,
        } => format!(
            "rs_plain(&o, syscall(SYS_linkat, {}, {}, {}, {}, 0));",
            dir(*d),
            c_str(path.as_bytes()),
            dir(*new_dir),
            c_str(new_path.as_bytes())
        ),
        Op::Symlink {
            target,
            dir: d,
            path,
        } => format!(
            "rs_plain(&o, syscall(SYS_symlinkat, {}, {}, {}));",
            c_str(target.as_bytes()),
            dir(*d),
            c_str(path.as_bytes())
        ),
        Op::Pipe {
            read_slot,
            write_slot,
            nonblock,
        } => format!(
            "rs_pipe(&o, {read_slot}, {write_slot}, O_CLOEXEC{});",
            if *nonblock { " | O_NONBLOCK" } else { "" }
        ),
        Op::Umask { mask } => format!("o.res = syscall(SYS_umask, {mask});"),
        Op::CopyFileRange {
            fd_in,
            off_in,
            fd_out,
            off_out,
            len,
            flags,
        }
        | Op::Splice {
            fd_in,
            off_in,
            fd_out,
            off_out,
            len,
            flags,
        } => {
            let copy = matches!(op, Op::CopyFileRange { .. }) as u8;
            let (hi, vi) = off(*off_in);
            let (ho, vo) = off(*off_out);
            format!(
                "rs_transfer_call(&o, {copy}, {}, {hi}, {vi}, {}, {ho}, {vo}, {len}ull, {flags}u);",
                fd(*fd_in),
                fd(*fd_out)
            )
        }
        Op::Tee {
            fd_in,
            fd_out,
            len,
            flags,
        } => format!(
            "rs_plain(&o, syscall(SYS_tee, {}, {}, (size_t){len}ull, {flags}u));",
            fd(*fd_in),
            fd(*fd_out)
        ),
        Op::Getdents { fd: f, count } => format!(
            "rs_getdents(&o, {}, {}, {count}ull);",
            cookie_key(*f),
            fd(*f)
        ),
        Op::Fadvise {
            fd: f,
            offset,
            len,
            advice,
        } => format!(
            "rs_plain(&o, syscall(SYS_fadvise64, {}, {}, {}, {}));",
            fd(*f),
            c_i64(*offset),
            c_i64(*len),
            advice_value(*advice)
        ),
        Op::Fallocate {
            fd: f,
            mode,
            offset,
            len,
        } => format!(
            "rs_plain(&o, syscall(SYS_fallocate, {}, {}, {}, {}));",
            fd(*f),
            falloc_mode(mode),
            c_i64(*offset),
            c_i64(*len)
        ),
        Op::Mknod {
            dir: d,
            path,
            node_type,
            perm,
            major,
            minor,
        } => format!(
            "rs_mknod(&o, {}, {}, {}u, {}ull);",
            dir(*d),
            c_str(path.as_bytes()),
            mknod_mode(*node_type, *perm),
            libc::makedev(*major, *minor)
        ),
        Op::Setxattr {
            path,
            name,
            value,
            flags,
        } => format!(
            "rs_plain(&o, syscall(SYS_setxattr, rs_root_path({}), {}, {}, (size_t){}, {}));",
            c_str(path.as_bytes()),
            c_str(model::ops::xattr::kernel_name(name).as_bytes()),
            payload(value),
            value.len(),
            *flags as i32
        ),
        Op::Fsetxattr {
            fd: f,
            name,
            value,
            flags,
        } => format!(
            "rs_plain(&o, syscall(SYS_fsetxattr, {}, {}, {}, (size_t){}, {}));",
            fd(*f),
            c_str(model::ops::xattr::kernel_name(name).as_bytes()),
            payload(value),
            value.len(),
            *flags as i32
        ),
        Op::Getxattr { path, name, size } => format!(
            "unsigned char *b = rs_zeroed({});\n\t\trs_bytes(&o, b, syscall(SYS_getxattr, rs_root_path({}), {}, b, (size_t){size}ull));",
            (*size).min(model::ops::xattr::XATTR_SIZE_MAX),
            c_str(path.as_bytes()),
            c_str(model::ops::xattr::kernel_name(name).as_bytes()),
        ),
        Op::Fgetxattr { fd: f, name, size } => format!(
            "unsigned char *b = rs_zeroed({});\n\t\trs_bytes(&o, b, syscall(SYS_fgetxattr, {}, {}, b, (size_t){size}ull));",
            (*size).min(model::ops::xattr::XATTR_SIZE_MAX),
            fd(*f),
            c_str(model::ops::xattr::kernel_name(name).as_bytes()),
        ),
    }
}

/// The descriptor value the backend gives an empty slot.
pub(crate) const CLOSED: i32 = CLOSED_FD;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_literals_escape_what_c_would_misread() {
        assert_eq!(c_str(b"a\"b\\c"), r#""a\"b\\c""#);
        // Octal, three digits: "\0001" is NUL then '1', never one char.
        assert_eq!(c_str(b"\x001\n?"), r#""\0001\012\077""#);
        assert_eq!(c_i64(i64::MIN), "(-9223372036854775807LL - 1)");
        assert_eq!(c_i64(-5), "-5LL");
    }

    #[test]
    fn buffers_are_writable_copies_or_fills() {
        assert_eq!(buffer(&[7; 100]), "rs_filled(7, 100)");
        assert_eq!(buffer(b"ab"), "rs_copy((const unsigned char *)\"ab\", 2)");
        assert_eq!(buffer(b""), "rs_zeroed(1)");
    }
}
