//! Facts about the running kernel.

/// The running kernel's (major, minor), from uname(2); (0, 0) if unknown.
pub fn version() -> (u32, u32) {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|u| model::Profile::parse_release(&u.release().to_string_lossy()))
        .unwrap_or((0, 0))
}
