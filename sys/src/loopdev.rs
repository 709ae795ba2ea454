//! Loop devices through the kernel's own interface (`linux/loop.h`): a free device
//! from `/dev/loop-control` (`LOOP_CTL_GET_FREE`), bound to a backing file with
//! `LOOP_CONFIGURE` (or `LOOP_SET_FD` + `LOOP_SET_STATUS64` on kernels before 5.8),
//! always with `LO_FLAGS_AUTOCLEAR`.
//!
//! A [`LoopDevice`] keeps the device open for as long as it lives, so nobody else
//! can be handed the same device, and dropping it detaches the device
//! (`LOOP_CLR_FD`, then the last close). When the device is still in use then (a
//! filesystem on it still mounted somewhere, e.g. a lazy unmount that has not
//! completed), the kernel only marks it for autoclear and releases it on the last
//! close; with autoclear set from the start, the device is also released when the
//! process dies without running destructors.

use nix::errno::Errno;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `LO_NAME_SIZE` of linux/loop.h.
const LO_NAME_SIZE: usize = 64;
/// `LO_KEY_SIZE` of linux/loop.h.
const LO_KEY_SIZE: usize = 32;
/// `LO_FLAGS_AUTOCLEAR`: detach the device on its last close.
const LO_FLAGS_AUTOCLEAR: u32 = 4;
/// Where the control device is.
const LOOP_CONTROL: &str = "/dev/loop-control";
/// How often to ask for another free device when the one we were given was taken
/// by someone else between `LOOP_CTL_GET_FREE` and binding it.
const ATTACH_ATTEMPTS: u32 = 64;

/// `struct loop_info64` of linux/loop.h.
#[repr(C)]
#[derive(Clone, Copy)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; LO_NAME_SIZE],
    lo_crypt_name: [u8; LO_NAME_SIZE],
    lo_encrypt_key: [u8; LO_KEY_SIZE],
    lo_init: [u64; 2],
}

/// `struct loop_config` of linux/loop.h (the argument of `LOOP_CONFIGURE`).
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

const _: () = assert!(std::mem::size_of::<LoopInfo64>() == 232);
const _: () = assert!(std::mem::size_of::<LoopConfig>() == 304);

/// The ioctl wrappers (request numbers of linux/loop.h).
mod ioctl {
    use super::{LoopConfig, LoopInfo64};
    nix::ioctl_write_int_bad!(loop_set_fd, 0x4C00);
    nix::ioctl_none_bad!(loop_clr_fd, 0x4C01);
    nix::ioctl_write_ptr_bad!(loop_set_status64, 0x4C04, LoopInfo64);
    nix::ioctl_write_ptr_bad!(loop_configure, 0x4C0A, LoopConfig);
    nix::ioctl_none_bad!(loop_ctl_get_free, 0x4C82);
}

/// A loop device operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{op} {}: {errno:?} ({}){}",
    path.display(),
    errno.desc(),
    if *path == Path::new(LOOP_CONTROL) && *errno == Errno::ENOENT {
        "; no loop driver? (modprobe loop)"
    } else {
        ""
    }
)]
pub struct LoopError {
    /// What was attempted: "open", "mknod", "LOOP_CTL_GET_FREE", "LOOP_CONFIGURE",
    /// "LOOP_SET_FD", "LOOP_SET_STATUS64".
    pub op: &'static str,
    /// The device, control device or backing file it was attempted on.
    pub path: PathBuf,
    /// The error.
    pub errno: Errno,
}

impl LoopError {
    /// True when the failure means "no loop devices here" rather than a bug or a
    /// full system: the control device is missing (no loop driver) or access to it
    /// or to a device is refused (no privilege, a container's device cgroup).
    pub fn is_unavailable(&self) -> bool {
        let control = self.path == Path::new(LOOP_CONTROL);
        matches!(self.errno, Errno::EPERM | Errno::EACCES)
            || (control && matches!(self.errno, Errno::ENOENT | Errno::ENODEV | Errno::ENXIO))
    }
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("paths have no NUL byte")
}

fn open_rw(path: &Path) -> Result<OwnedFd, Errno> {
    let c = cpath(path);
    // SAFETY: c is a valid NUL-terminated string; the fd is owned from here on.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fd was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens `/dev/loop<n>`, creating the node first when it is missing (a `/dev`
/// without devtmpfs or udev), with the numbers the kernel gives in
/// `/sys/block/loop<n>/dev`.
fn open_device(n: u32) -> Result<(OwnedFd, PathBuf), LoopError> {
    let path = PathBuf::from(format!("/dev/loop{n}"));
    let err = |op, errno| LoopError {
        op,
        path: path.clone(),
        errno,
    };
    match open_rw(&path) {
        Ok(fd) => return Ok((fd, path)),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(err("open", e)),
    }
    let numbers = std::fs::read_to_string(format!("/sys/block/loop{n}/dev"))
        .map_err(|e| err("mknod", Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
    let (major, minor) = numbers
        .trim()
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        .ok_or(err("mknod", Errno::EINVAL))?;
    let c = cpath(&path);
    // SAFETY: c is a valid NUL-terminated string.
    let r = unsafe {
        libc::mknod(
            c.as_ptr(),
            libc::S_IFBLK | 0o660,
            libc::makedev(major, minor),
        )
    };
    if r < 0 && Errno::last() != Errno::EEXIST {
        return Err(err("mknod", Errno::last()));
    }
    open_rw(&path)
        .map(|fd| (fd, path.clone()))
        .map_err(|e| err("open", e))
}

/// The file name recorded with the binding (what `losetup -l` shows; the kernel's
/// sysfs `backing_file` shows the real path whatever this says).
fn file_name_field(path: &Path) -> [u8; LO_NAME_SIZE] {
    let mut name = [0u8; LO_NAME_SIZE];
    let bytes = path.as_os_str().as_bytes();
    let n = bytes.len().min(LO_NAME_SIZE - 1);
    name[..n].copy_from_slice(&bytes[..n]);
    name
}

fn info_autoclear(backing: &Path) -> LoopInfo64 {
    LoopInfo64 {
        lo_device: 0,
        lo_inode: 0,
        lo_rdevice: 0,
        lo_offset: 0,
        lo_sizelimit: 0,
        lo_number: 0,
        lo_encrypt_type: 0,
        lo_encrypt_key_size: 0,
        lo_flags: LO_FLAGS_AUTOCLEAR,
        lo_file_name: file_name_field(backing),
        lo_crypt_name: [0; LO_NAME_SIZE],
        lo_encrypt_key: [0; LO_KEY_SIZE],
        lo_init: [0; 2],
    }
}

/// Binds the open device `dev` to `file`: LOOP_CONFIGURE, or on kernels without it
/// (EINVAL/ENOTTY) LOOP_SET_FD then LOOP_SET_STATUS64. EBUSY means the device was
/// bound by someone else in the meantime.
fn bind(dev: &OwnedFd, dev_path: &Path, file: &OwnedFd, backing: &Path) -> Result<(), LoopError> {
    let err = |op, errno| LoopError {
        op,
        path: dev_path.to_owned(),
        errno,
    };
    let config = LoopConfig {
        fd: file.as_raw_fd() as u32,
        block_size: 0,
        info: info_autoclear(backing),
        reserved: [0; 8],
    };
    // SAFETY: dev is an open loop device and config a valid struct loop_config that
    // the kernel only reads.
    match unsafe { ioctl::loop_configure(dev.as_raw_fd(), &config) } {
        Ok(_) => return Ok(()),
        Err(Errno::EINVAL | Errno::ENOTTY) => {}
        Err(e) => return Err(err("LOOP_CONFIGURE", e)),
    }
    // SAFETY: both are open descriptors; LOOP_SET_FD takes the backing fd by value.
    unsafe { ioctl::loop_set_fd(dev.as_raw_fd(), file.as_raw_fd()) }
        .map_err(|e| err("LOOP_SET_FD", e))?;
    let info = info_autoclear(backing);
    // SAFETY: info is a valid struct loop_info64 that the kernel only reads.
    if let Err(e) = unsafe { ioctl::loop_set_status64(dev.as_raw_fd(), &info) } {
        // SAFETY: dev is an open loop device we just bound.
        let _ = unsafe { ioctl::loop_clr_fd(dev.as_raw_fd()) };
        return Err(err("LOOP_SET_STATUS64", e));
    }
    Ok(())
}

/// A loop device bound to a backing file, held open; dropping it detaches it (see
/// the module documentation).
#[derive(Debug)]
pub struct LoopDevice {
    dev: OwnedFd,
    number: u32,
    path: PathBuf,
}

impl LoopDevice {
    /// Binds a free loop device to the regular file `backing` (read-write, offset 0,
    /// whole file, 512-byte logical blocks, autoclear). Needs CAP_SYS_ADMIN.
    /// Retries with another device when the one the kernel offered is taken by
    /// someone else first (several tests attaching at once).
    pub fn attach(backing: &Path) -> Result<LoopDevice, LoopError> {
        let file = open_rw(backing).map_err(|errno| LoopError {
            op: "open",
            path: backing.to_owned(),
            errno,
        })?;
        let control = open_rw(Path::new(LOOP_CONTROL)).map_err(|errno| LoopError {
            op: "open",
            path: LOOP_CONTROL.into(),
            errno,
        })?;
        let mut last = Errno::EBUSY;
        for _ in 0..ATTACH_ATTEMPTS {
            // SAFETY: control is the open loop control device.
            let n = unsafe { ioctl::loop_ctl_get_free(control.as_raw_fd()) }.map_err(|errno| {
                LoopError {
                    op: "LOOP_CTL_GET_FREE",
                    path: LOOP_CONTROL.into(),
                    errno,
                }
            })?;
            let (dev, path) = open_device(n as u32)?;
            match bind(&dev, &path, &file, backing) {
                Ok(()) => {
                    return Ok(LoopDevice {
                        dev,
                        number: n as u32,
                        path,
                    })
                }
                Err(e) if e.errno == Errno::EBUSY => last = e.errno,
                Err(e) => return Err(e),
            }
        }
        Err(LoopError {
            op: "LOOP_CONFIGURE",
            path: LOOP_CONTROL.into(),
            errno: last,
        })
    }

    /// `/dev/loop<n>`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The device number n of `/dev/loop<n>`.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The backing file as the kernel reports it (`/sys/block/loop<n>/loop/backing_file`,
    /// with " (deleted)" once the file is unlinked), or None when not bound.
    pub fn backing_file(&self) -> Option<String> {
        std::fs::read_to_string(format!("/sys/block/loop{}/loop/backing_file", self.number))
            .ok()
            .map(|s| s.trim_end_matches('\n').to_string())
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        // Detaches now if we are the last user, else marks the device for autoclear
        // (already set); ENXIO if it is no longer bound. The close that follows is
        // what releases it in current kernels.
        // SAFETY: dev is our open loop device.
        let _ = unsafe { ioctl::loop_clr_fd(self.dev.as_raw_fd()) };
    }
}

/// Every bound loop device and its backing file (`/sys/block/loop*/loop/backing_file`),
/// for leak checks and diagnostics.
pub fn bound_devices() -> Vec<(PathBuf, String)> {
    let Ok(dir) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, String)> = dir
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("loop")?.parse::<u32>().ok()?;
            let backing =
                std::fs::read_to_string(format!("/sys/block/{name}/loop/backing_file")).ok()?;
            Some((
                PathBuf::from(format!("/dev/{name}")),
                backing.trim_end_matches('\n').to_string(),
            ))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_is_missing() {
        let e = LoopError {
            op: "open",
            path: LOOP_CONTROL.into(),
            errno: Errno::ENOENT,
        };
        assert!(e.is_unavailable());
        assert_eq!(
            e.to_string(),
            "open /dev/loop-control: ENOENT (No such file or directory); no loop driver? (modprobe loop)"
        );
        let busy = LoopError {
            op: "LOOP_CONFIGURE",
            path: "/dev/loop3".into(),
            errno: Errno::EBUSY,
        };
        assert!(!busy.is_unavailable());
    }

    #[test]
    fn long_names_are_truncated_with_a_nul() {
        let long = PathBuf::from(format!("/{}", "x".repeat(100)));
        let f = file_name_field(&long);
        assert_eq!(f[LO_NAME_SIZE - 1], 0);
        assert_eq!(&f[..2], b"/x");
    }

    /// As root with loop devices: attach a small file, see it bound, drop, see it
    /// released.
    #[test]
    fn attach_and_release() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 || !Path::new(LOOP_CONTROL).exists() {
            eprintln!("SKIPPED: attach_and_release needs root and {LOOP_CONTROL}");
            return;
        }
        let dir = std::env::temp_dir().join(format!("ringspec-loop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("img");
        let f = std::fs::File::create(&img).unwrap();
        f.set_len(1 << 20).unwrap();
        drop(f);
        let dev = LoopDevice::attach(&img).unwrap_or_else(|e| panic!("{e}"));
        let backing = dev.backing_file().expect("bound");
        assert_eq!(backing, img.to_str().unwrap());
        assert!(bound_devices()
            .iter()
            .any(|(p, b)| p == dev.path() && b == &backing));
        let path = dev.path().to_owned();
        drop(dev);
        // Released on the last close; a fork by another test thread (running mkfs)
        // can hold a copy of our descriptor until its exec, so allow a moment.
        let started = std::time::Instant::now();
        while bound_devices()
            .iter()
            .any(|(_, b)| b.starts_with(dir.to_str().unwrap()))
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(2),
                "{} still bound",
                path.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
