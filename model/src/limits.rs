//! Kernel limits the op families share.

/// MAX_RW_COUNT (INT_MAX & PAGE_MASK): the kernel clamps one
/// read/write/splice to this many bytes.
pub const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// An allocation larger than this many bytes may fail with ENOSPC on the
/// size-limited scratch mounts (the model does not track free space).
pub const ENOSPC_THRESHOLD: u64 = 16 << 20;
