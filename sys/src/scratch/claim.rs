//! Ownership of scratch directories, so that a later run can remove what a
//! killed one left behind (SIGKILL, a crash, a kill during mkfs) and nothing
//! else.
//!
//! A scratch directory `ringspec-XXXXXX` is claimed by its process with an
//! exclusive `flock` on the directory, held until the directory is removed,
//! and then marked with [`MARKER`]. The kernel drops the lock when the
//! process dies, however it dies. [`sweep_stale`] removes only directories
//! that carry the marker, belong to this user and whose lock it can take:
//! a live run's directory is locked, and a directory still being set up has
//! no marker yet.

use super::{cpath, open_dir, remove_tree, ScratchError};
use nix::errno::Errno as NixErrno;
use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The file that marks a claimed scratch directory (it holds the pid).
pub const MARKER: &str = ".ringspec-owner";

/// Prefix of scratch directory names; six mkdtemp characters follow.
const PREFIX: &str = "ringspec-";

/// Makes `dir/ringspec-XXXXXX`, locks it and marks it. The returned
/// descriptor holds the lock: keep it until the directory is removed.
pub fn claim_new(dir: &Path) -> Result<(PathBuf, OwnedFd), ScratchError> {
    let template = dir.join(format!("{PREFIX}XXXXXX"));
    let mut bytes = cpath(&template).into_bytes_with_nul();
    // SAFETY: bytes is a writable NUL-terminated template; mkdtemp fills in the Xs.
    if unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) }.is_null() {
        return Err(ScratchError::Create {
            path: template,
            errno: NixErrno::last(),
        });
    }
    bytes.pop();
    let path = PathBuf::from(OsString::from_vec(bytes));
    let lock = match lock_and_mark(&path) {
        Ok(l) => l,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&path);
            return Err(e);
        }
    };
    Ok((path, lock))
}

fn lock_and_mark(path: &Path) -> Result<OwnedFd, ScratchError> {
    let fd = open_dir(path)?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(ScratchError::Create {
            path: path.to_path_buf(),
            errno: NixErrno::last(),
        });
    }
    std::fs::write(path.join(MARKER), format!("{}\n", std::process::id())).map_err(|e| {
        ScratchError::Create {
            path: path.join(MARKER),
            errno: NixErrno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        }
    })?;
    Ok(fd)
}

/// Whether `name` is a scratch directory name: the prefix and six mkdtemp
/// characters.
fn is_scratch_name(name: &[u8]) -> bool {
    name.len() == PREFIX.len() + 6
        && name.starts_with(PREFIX.as_bytes())
        && name[PREFIX.len()..].iter().all(u8::is_ascii_alphanumeric)
}

/// Removes the scratch directories under `dir` that no live process owns
/// (see the module documentation); returns the paths removed.
pub fn sweep_stale(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        if !is_scratch_name(name.as_bytes()) {
            continue;
        }
        let path = e.path();
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != uid {
            continue;
        }
        if std::fs::symlink_metadata(path.join(MARKER)).map_or(true, |m| !m.is_file()) {
            continue;
        }
        let Ok(fd) = open_dir(&path) else {
            continue;
        };
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            continue; // a live run holds it
        }
        remove_tree(&path);
        if !path.exists() {
            removed.push(path);
        }
        drop(fd);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_scratch_name(b"ringspec-ab12CD"));
        assert!(!is_scratch_name(b"ringspec-ab12C"));
        assert!(!is_scratch_name(b"ringspec-reg-1234"));
        assert!(!is_scratch_name(b"ringspec-ab/2CD"));
        assert!(!is_scratch_name(b"other-ab12CD"));
    }

    #[test]
    fn only_unowned_marked_directories_go() {
        let top = std::env::temp_dir().join(format!("ringspec-claimtest-{}", std::process::id()));
        std::fs::create_dir_all(&top).unwrap();
        // A live claim (this process holds the lock).
        let (live, lock) = claim_new(&top).unwrap();
        // A stale one: claimed, then its lock released as a dead process's is.
        let (stale, stale_lock) = claim_new(&top).unwrap();
        std::fs::write(stale.join("main.img"), b"image").unwrap();
        drop(stale_lock);
        // Not ours to touch: no marker, and a name that only looks similar.
        let unmarked = top.join("ringspec-abcdef");
        std::fs::create_dir(&unmarked).unwrap();
        let other = top.join("ringspec-notours-1");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join(MARKER), b"1\n").unwrap();
        let removed = sweep_stale(&top);
        assert_eq!(removed, vec![stale.clone()]);
        assert!(live.exists() && unmarked.exists() && other.exists());
        assert!(!stale.exists());
        drop(lock);
        std::fs::remove_dir_all(&top).unwrap();
    }
}
