//! Extended attributes: setxattr(2), getxattr(2), fsetxattr(2), fgetxattr(2)
//! and io_uring's SETXATTR, GETXATTR, FSETXATTR and FGETXATTR (5.19).
//!
//! Errno precedence (fs/xattr.c, io_uring/xattr.c):
//! 1. before 6.13: fsetxattr/fgetxattr through the syscalls look the
//!    descriptor up first (EBADF, O_PATH included), getxattr(2) the path;
//!    io_uring's prep refuses a registered file for FSETXATTR/FGETXATTR
//!    (EBADF);
//! 2. set: flags beyond XATTR_CREATE|XATTR_REPLACE (EINVAL); both: the name
//!    up to its NUL is empty or 256 bytes or longer (ERANGE); set: a value
//!    over XATTR_SIZE_MAX (E2BIG). Through io_uring these are the opcode's
//!    prep errors: in a linked chain they cancel every member;
//! 3. the path (ENOENT, ENOTDIR, ELOOP; a final symlink is followed) or the
//!    descriptor (EBADF);
//! 4. xattr_permission: a `user.` name on anything but a regular file or a
//!    directory is EPERM to set and ENODATA to get;
//! 5. the handler: `user.` with nothing after it is EINVAL; a prefix no
//!    handler knows is EOPNOTSUPP (tmpfs has no `user.` handler before 6.6);
//!    `trusted.`, `security.`, `system.` and `btrfs.` names are the
//!    filesystem's or a security module's and are not modelled;
//! 6. set: XATTR_CREATE on an existing name is EEXIST, XATTR_REPLACE on a
//!    missing one ENODATA (xfs makes both flags together a create); a value
//!    of size 0 is stored empty, not removed. Where the attributes of one
//!    inode outgrow what every filesystem keeps (ext4: one block; btrfs: one
//!    leaf item, checked before the flags), ENOSPC, E2BIG or EFBIG are the
//!    filesystem's choice;
//! 7. get: a missing name is ENODATA; size 0 returns the value's length; a
//!    nonzero size below it is ERANGE; sizes over XATTR_SIZE_MAX are capped.

use crate::allowed::Allowed;
use crate::exec::{or_fail, Plan};
use crate::fs::{Fs, Ino};
use crate::op::{Dir, FdRef};
use crate::outcome::{Data, Errno, FileType, Outcome};
use crate::profile::{FsKind, Interface};

/// XATTR_CREATE: fail if the name exists.
pub const XATTR_CREATE: u32 = 1;
/// XATTR_REPLACE: fail if the name does not exist.
pub const XATTR_REPLACE: u32 = 2;
/// XATTR_SIZE_MAX: the largest value.
pub const XATTR_SIZE_MAX: u64 = 65536;
/// XATTR_NAME_MAX + 1: the name buffer the kernel copies into.
const NAME_BUFFER: usize = 256;
/// The `user.` attributes of one inode (names and values) every filesystem
/// keeps: up to this many bytes a set must succeed.
const ALWAYS_FITS: usize = 255;
/// tmpfs has user xattrs since 6.6 ("shmem: add support for user extended
/// attributes").
const TMPFS_USER_XATTRS: (u32, u32) = (6, 6);
/// From 6.13 on (the *xattrat rework) fsetxattr/fgetxattr check the name
/// before the descriptor; before, the descriptor first.
const NAME_BEFORE_FD: (u32, u32) = (6, 13);

/// The names the generator draws: three `user.` names (so EEXIST and
/// ENODATA come often) and one of each error: `user.` alone (EINVAL), an
/// unknown prefix (EOPNOTSUPP), empty and 256 bytes long (ERANGE).
pub fn generator_names() -> Vec<String> {
    let mut names: Vec<String> = ["user.a", "user.a", "user.b", "user.b", "user.c"]
        .iter()
        .map(|n| n.to_string())
        .collect();
    names.extend(["user.".to_string(), "foo.a".to_string(), String::new()]);
    names.push(format!("user.{}", "n".repeat(NAME_BUFFER - "user.".len())));
    names
}

/// Large values the generator sometimes sets: past what every filesystem
/// keeps for one inode, a block, XATTR_SIZE_MAX and one byte past it.
pub const GENERATOR_LARGE_VALUES: [u64; 4] = [300, 4000, XATTR_SIZE_MAX, XATTR_SIZE_MAX + 1];

/// Set flags the generator draws: none most often, CREATE, REPLACE, both,
/// and an invalid bit.
pub const GENERATOR_FLAGS: [u32; 7] = [0, 0, 0, XATTR_CREATE, XATTR_REPLACE, 3, 4];

/// Get buffer sizes the generator draws: the length query, short and
/// exact-ish buffers, XATTR_SIZE_MAX and far past it (capped).
pub const GENERATOR_SIZES: [u64; 7] = [0, 1, 4, 12, 64, XATTR_SIZE_MAX, 1 << 40];

/// The file an xattr op names: a path from the main root, or a descriptor.
#[derive(Debug, Clone, Copy)]
pub enum XattrTarget<'a> {
    /// setxattr/getxattr: the path, following a final symlink.
    Path(&'a str),
    /// fsetxattr/fgetxattr.
    Fd(FdRef),
}

/// What the handler makes of a name.
enum Handler {
    /// `user.<suffix>`.
    User,
    /// `user.` alone: EINVAL.
    EmptyUser,
    /// A namespace the model does not follow.
    NotModelled,
    /// No handler: EOPNOTSUPP.
    Unknown,
}

/// The name as the kernel sees it: up to the first NUL byte.
pub fn kernel_name(name: &str) -> &str {
    name.split('\0').next().unwrap_or("")
}

fn handler(name: &str) -> Handler {
    match name.strip_prefix("user.") {
        Some("") => Handler::EmptyUser,
        Some(_) => Handler::User,
        None if ["trusted.", "security.", "system.", "btrfs."]
            .iter()
            .any(|p| name.starts_with(p)) =>
        {
            Handler::NotModelled
        }
        None => Handler::Unknown,
    }
}

/// The errors of the name itself (step 2).
fn name_error(name: &str) -> Option<Errno> {
    let n = kernel_name(name).len();
    (n == 0 || n >= NAME_BUFFER).then_some(Errno::ERANGE)
}

/// Why a name outside the modelled namespaces poisons the run.
const NOT_MODELLED: &str = "an xattr namespace the model does not follow (trusted, security, system, btrfs)";

impl Fs {
    /// The io_uring prep errors of SETXATTR/FSETXATTR (step 2).
    pub(crate) fn setxattr_prep_error(&self, name: &str, size: u64, flags: u32) -> Option<Errno> {
        if flags & !(XATTR_CREATE | XATTR_REPLACE) != 0 {
            return Some(Errno::EINVAL);
        }
        name_error(name).or((size > XATTR_SIZE_MAX).then_some(Errno::E2BIG))
    }

    /// The io_uring prep errors of GETXATTR/FGETXATTR (step 2).
    pub(crate) fn getxattr_prep_error(&self, name: &str) -> Option<Errno> {
        name_error(name)
    }

    /// The inode behind the target (steps 1 and 3), or the error.
    fn xattr_inode(&self, target: XattrTarget<'_>) -> Result<Ino, Errno> {
        match target {
            XattrTarget::Path(p) => self.lookup(Dir::Root, p, true)?.ino.ok_or(Errno::ENOENT),
            XattrTarget::Fd(fd) => Ok(self.desc(fd)?.ino),
        }
    }

    /// Step 1: the descriptor first, before 6.13: the syscalls look it up
    /// before the name, and io_uring's prep refuses a registered file for
    /// every xattr opcode (REQ_F_FIXED_FILE, EBADF; later only the path
    /// opcodes refuse one).
    fn fd_first(&self, target: XattrTarget<'_>) -> Option<Errno> {
        match target {
            XattrTarget::Fd(fd) if self.profile.kernel < NAME_BEFORE_FD => {
                if self.interface.get() == Interface::Syscall {
                    self.desc(fd).err()
                } else {
                    self.fixed_file_prep_error()
                }
            }
            _ => None,
        }
    }

    /// io_uring's prep error for FSETXATTR/FGETXATTR on a registered file
    /// before 6.13.
    pub(crate) fn fixed_file_prep_error(&self) -> Option<Errno> {
        (!self.profile.uring_xattr_takes_fixed_files()).then_some(Errno::EBADF)
    }

    /// Steps 4 and 5 for `name` on `ino`: Ok(true) for a modelled `user.`
    /// name, Ok(false) for one the model does not follow.
    fn xattr_access(&self, ino: Ino, name: &str, write: bool) -> Result<bool, Errno> {
        let handler = handler(name);
        if matches!(handler, Handler::User | Handler::EmptyUser)
            && !matches!(self.inodes[ino].file_type(), FileType::Reg | FileType::Dir)
        {
            return Err(if write { Errno::EPERM } else { Errno::ENODATA });
        }
        let user_supported = !(self.profile.fs.kind == FsKind::Tmpfs
            && self.profile.kernel < TMPFS_USER_XATTRS);
        match handler {
            Handler::User | Handler::EmptyUser if !user_supported => Err(Errno::EOPNOTSUPP),
            Handler::EmptyUser => Err(Errno::EINVAL),
            Handler::Unknown => Err(Errno::EOPNOTSUPP),
            Handler::NotModelled => Ok(false),
            Handler::User => Ok(true),
        }
    }

    /// setxattr/fsetxattr (SETXATTR/FSETXATTR): `value` stored under `name`.
    pub(crate) fn plan_setxattr(
        &self,
        target: XattrTarget<'_>,
        name: &str,
        value: Vec<u8>,
        flags: u32,
    ) -> Plan {
        if let Some(e) = self.fd_first(target) {
            return Plan::fail(e);
        }
        if let Some(e) = self.setxattr_prep_error(name, value.len() as u64, flags) {
            return Plan::fail(e);
        }
        let ino = or_fail!(self.xattr_inode(target));
        let name = kernel_name(name).to_string();
        if !or_fail!(self.xattr_access(ino, &name, true)) {
            return Plan::pure(Allowed::Unmodelled(NOT_MODELLED));
        }
        let attrs = &self.inodes[ino].xattrs;
        let exists = attrs.contains_key(&name);
        // xfs turns XATTR_CREATE|XATTR_REPLACE into a create
        // (xfs_xattr_flags_to_op); the others check both.
        let create_wins = self.profile.fs.kind == FsKind::Xfs;
        let flags_error = if flags & XATTR_CREATE != 0 && exists {
            Some(Errno::EEXIST)
        } else if flags & XATTR_REPLACE != 0
            && !exists
            && !(create_wins && flags & XATTR_CREATE != 0)
        {
            Some(Errno::ENODATA)
        } else {
            None
        };
        let total: usize = attrs
            .iter()
            .filter(|(k, _)| **k != name && k.starts_with("user."))
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
            + name.len()
            + value.len();
        let mut allowed = match flags_error {
            Some(e) => Allowed::err(e),
            None => Allowed::ok(0),
        };
        // Past what every filesystem keeps, the space error is the
        // filesystem's choice, and may come before the flags (btrfs checks
        // the item size first).
        if total > ALWAYS_FITS {
            for e in [Errno::ENOSPC, Errno::E2BIG, Errno::EFBIG] {
                allowed = allowed.or(Allowed::err(e));
            }
        }
        if flags_error.is_some() {
            return Plan::pure(allowed).with_local_enospc();
        }
        Plan::with(allowed, move |fs, _| {
            fs.inodes[ino].xattrs.insert(name, value);
        })
        .with_local_enospc()
    }

    /// getxattr/fgetxattr (GETXATTR/FGETXATTR) with a `size`-byte buffer.
    pub(crate) fn plan_getxattr(&self, target: XattrTarget<'_>, name: &str, size: u64) -> Plan {
        if let Some(e) = self.fd_first(target) {
            return Plan::fail(e);
        }
        // Before 6.13 getxattr(2) looks the path up before it reads the name
        // (path_getxattr); io_uring's prep reads the name first.
        if matches!(target, XattrTarget::Path(_))
            && self.interface.get() == Interface::Syscall
            && self.profile.kernel < NAME_BEFORE_FD
        {
            or_fail!(self.xattr_inode(target));
        }
        if let Some(e) = self.getxattr_prep_error(name) {
            return Plan::fail(e);
        }
        let ino = or_fail!(self.xattr_inode(target));
        let name = kernel_name(name);
        if !or_fail!(self.xattr_access(ino, name, false)) {
            return Plan::pure(Allowed::Unmodelled(NOT_MODELLED));
        }
        let Some(value) = self.inodes[ino].xattrs.get(name) else {
            return Plan::fail(Errno::ENODATA);
        };
        let len = value.len() as i64;
        if size == 0 {
            return Plan::pure(Allowed::Exact(Outcome::ok_with(len, Data::Bytes(vec![]))));
        }
        if size < value.len() as u64 {
            return Plan::fail(Errno::ERANGE);
        }
        Plan::pure(Allowed::Exact(Outcome::ok_with(len, Data::Bytes(value.clone()))))
    }
}
