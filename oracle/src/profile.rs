//! Detecting the model profile of the running kernel and a scratch root.

use model::{FsProfile, Interface, Profile};
use sys::scratch::Scratch;

/// The running kernel's stable patch level ([`Profile::parse_patch`]).
pub fn kernel_patch() -> u32 {
    nix::sys::utsname::uname()
        .map(|u| Profile::parse_patch(&u.release().to_string_lossy()))
        .unwrap_or(0)
}

pub use sys::kernel::version as kernel_version;

/// The profile for a scratch area and an interface.
pub fn detect(scratch: &Scratch, interface: Interface) -> Profile {
    let fs = scratch.fs();
    Profile {
        kernel: kernel_version(),
        kernel_patch: kernel_patch(),
        fs: FsProfile::detect(&fs.name, fs.block_size),
        interface,
        cross_fs: scratch.cross_fs(),
        sync_kinds: vec![],
        // SAFETY: geteuid has no preconditions.
        privileged: unsafe { libc::geteuid() } == 0,
        uring_async: false,
        uring_fixed: false,
        fsize_limit: sys::rlimit::fsize_limit(),
    }
}
