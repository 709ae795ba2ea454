//! Detecting the model profile of the running kernel and a scratch root.

use crate::scratch::Scratch;
use model::{FsProfile, Interface, Profile};

/// The running kernel's (major, minor), from uname.
pub fn kernel_version() -> (u32, u32) {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|u| Profile::parse_release(&u.release().to_string_lossy()))
        .unwrap_or((0, 0))
}

/// The profile for a scratch area and an interface.
pub fn detect(scratch: &Scratch, interface: Interface) -> Profile {
    let fs = scratch.fs();
    Profile {
        kernel: kernel_version(),
        fs: FsProfile::detect(&fs.name, fs.block_size),
        interface,
        cross_fs: scratch.cross_fs(),
        sync_kinds: vec![],
        // SAFETY: geteuid has no preconditions.
        privileged: unsafe { libc::geteuid() } == 0,
        uring_async: false,
        cfr_empty_skips_limits: cfr_empty_skips_limits(&crate::proposed::running_release()),
    }
}

/// Whether a kernel release has the 6.12 stable change that skips
/// copy_file_range's write limits for an empty copy (model
/// `Profile::cfr_empty_skips_limits`): 6.12.117 has it, 6.12.100 does not; the
/// first sublevel in between is not known here, so 6.12.101..=116 count as
/// without it.
pub fn cfr_empty_skips_limits(release: &str) -> bool {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let mut num = || it.next().and_then(|s| s.parse::<u32>().ok());
    matches!((num(), num(), num()), (Some(6), Some(12), Some(s)) if s >= 117)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_6_12_stable_cfr_change_by_release() {
        assert!(super::cfr_empty_skips_limits("6.12.117-gate"));
        assert!(super::cfr_empty_skips_limits("6.12.120"));
        assert!(!super::cfr_empty_skips_limits("6.12.100+deb12-amd64"));
        assert!(!super::cfr_empty_skips_limits("6.18.44-fc-v669"));
        assert!(!super::cfr_empty_skips_limits("6.1.0-50-amd64"));
    }
}
