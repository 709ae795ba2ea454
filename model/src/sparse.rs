//! Regular file contents as a sparse map of blocks, so that files with holes and
//! huge offsets cost nothing.

use std::collections::BTreeMap;

/// Found by ringspec on 6.18: on tmpfs, lseek(SEEK_HOLE) that walks written
/// pages into the file's last possible page (holding byte LLONG_MAX - 1)
/// returns LLONG_MIN, a negative offset, instead of a position (the page's
/// end, 2^63, overflows loff_t in mapping_seek_hole_data). Reproducer:
/// corpus/regressions/tmpfs_seek_hole_in_last_page_returns_llong_min.toml.
pub const TMPFS_SEEK_HOLE_LAST_PAGE: &str =
    "tmpfs SEEK_HOLE through the last possible page returns LLONG_MIN (6.18)";

/// Found by ringspec's CI soak on 6.18 (seed 200): on btrfs too, once the
/// file's data reaches its last possible block and was written back (an
/// fsync), lseek(SEEK_HOLE) from that block returns LLONG_MIN where LLONG_MAX
/// (the EOF hole) is right: the search end, the size rounded up to the
/// sector, overflows loff_t. Reproducer:
/// corpus/regressions/btrfs_seek_hole_in_last_block_returns_llong_min.toml.
pub const BTRFS_SEEK_HOLE_LAST_BLOCK: &str =
    "btrfs SEEK_HOLE through the last possible block may return LLONG_MIN (6.18)";

/// Found by ringspec's soak on 6.18: on xfs, lseek(SEEK_DATA) from a hole
/// whose next data is in the file's last possible block (holding byte
/// LLONG_MAX - 1) sometimes returns ENXIO (1 of 3 replays of the same
/// sequence): data is missed. Reproducer:
/// corpus/regressions/xfs_seek_data_in_last_block_enxio.toml.
pub const XFS_SEEK_DATA_LAST_BLOCK: &str =
    "xfs SEEK_DATA may miss data in the last possible block (ENXIO) (6.18)";

/// One allocated block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Written data (may contain zeros).
    Data(Vec<u8>),
    /// Allocated by fallocate but never written: reads as zeros. Filesystems may
    /// report it as data or as a hole to SEEK_DATA/SEEK_HOLE.
    Unwritten,
    /// Written data that is all zeros (a copy of a hole, WRITE_ZEROES), kept
    /// without its bytes so that huge ranges cost nothing. Data for SEEK_DATA.
    Zero,
}

/// File contents: a size and the allocated blocks (block index -> block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseFile {
    /// st_size.
    pub size: u64,
    /// Allocation unit (hole granularity).
    pub block_size: u64,
    /// Allocated blocks by index; absent = hole.
    pub blocks: BTreeMap<u64, Block>,
    /// Growing the file from an unaligned size writes the zeroed tail of the
    /// old EOF block, which makes that block data (btrfs: btrfs_cont_expand
    /// calls btrfs_truncate_block on the old size; measured on 6.18).
    pub grow_writes_eof_block: bool,
}

impl SparseFile {
    /// An empty file.
    pub fn new(block_size: u64) -> SparseFile {
        SparseFile {
            size: 0,
            block_size,
            blocks: BTreeMap::new(),
            grow_writes_eof_block: false,
        }
    }

    /// Called before the size grows to `new_size`: where
    /// [`SparseFile::grow_writes_eof_block`] is set, the block holding the old
    /// EOF becomes written data (zeros where it was a hole or unwritten).
    pub fn before_grow(&mut self, new_size: u64) {
        let bs = self.block_size;
        if !self.grow_writes_eof_block || new_size <= self.size || self.size.is_multiple_of(bs) {
            return;
        }
        let bi = self.size / bs;
        if matches!(self.blocks.get(&bi), None | Some(Block::Unwritten)) {
            self.blocks.insert(bi, Block::Zero);
        }
    }

    /// Reads `len` bytes at `pos`, clipped to the size (holes read as zeros).
    pub fn read(&self, pos: u64, len: u64) -> Vec<u8> {
        if pos >= self.size || len == 0 {
            return Vec::new();
        }
        let end = self.size.min(pos.saturating_add(len));
        let mut out = vec![0u8; (end - pos) as usize];
        let bs = self.block_size;
        for (&bi, b) in self.blocks.range(pos / bs..=(end - 1) / bs) {
            if let Block::Data(d) = b {
                let bstart = bi * bs;
                let from = pos.max(bstart);
                let to = end.min(bstart + bs);
                out[(from - pos) as usize..(to - pos) as usize]
                    .copy_from_slice(&d[(from - bstart) as usize..(to - bstart) as usize]);
            }
        }
        out
    }

    /// Writes bytes at `pos`, growing the size if needed.
    pub fn write(&mut self, pos: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let bs = self.block_size;
        let end = pos + data.len() as u64;
        self.before_grow(end);
        let mut p = pos;
        while p < end {
            let bi = p / bs;
            let bstart = bi * bs;
            let to = end.min(bstart + bs);
            let blk = self
                .blocks
                .entry(bi)
                .or_insert_with(|| Block::Data(vec![0; bs as usize]));
            if matches!(blk, Block::Unwritten | Block::Zero) {
                *blk = Block::Data(vec![0; bs as usize]);
            }
            if let Block::Data(d) = blk {
                d[(p - bstart) as usize..(to - bstart) as usize]
                    .copy_from_slice(&data[(p - pos) as usize..(to - pos) as usize]);
            }
            p = to;
        }
        self.size = self.size.max(end);
    }

    /// The non-zero runs of `[pos, pos+len)` (clipped to the size) as
    /// (offset relative to `pos`, bytes): a copy source that costs nothing for
    /// holes, however large the range.
    pub fn runs_in(&self, pos: u64, len: u64) -> Vec<(u64, Vec<u8>)> {
        if pos >= self.size || len == 0 {
            return Vec::new();
        }
        let end = self.size.min(pos.saturating_add(len));
        let bs = self.block_size;
        let mut runs = Vec::new();
        for (&bi, b) in self.blocks.range(pos / bs..=(end - 1) / bs) {
            if let Block::Data(d) = b {
                let bstart = bi * bs;
                let from = pos.max(bstart);
                let to = end.min(bstart + bs);
                let chunk = &d[(from - bstart) as usize..(to - bstart) as usize];
                runs.extend(crate::state::nonzero_runs(from - pos, chunk));
            }
        }
        crate::state::merge_runs(runs)
    }

    /// Writes `len` bytes at `pos` whose non-zero parts are `runs` (as returned by
    /// [`SparseFile::runs_in`]) and whose other bytes are zeros: the destination
    /// side of copy_file_range. Zero ranges become allocated, unwritten blocks.
    ///
    /// With `zeros_written` (a splice copy: tmpfs, ext4) the zero ranges are
    /// written data; without (a reflink copy: XFS, Btrfs clone extents, so a
    /// source hole may stay a hole) they are left allocated-or-not for
    /// SEEK_DATA to report either way.
    pub fn copy_in(&mut self, pos: u64, len: u64, runs: &[(u64, Vec<u8>)], zeros_written: bool) {
        if len == 0 {
            return;
        }
        self.before_grow(pos + len);
        // The size first, so that writing the runs grows nothing.
        self.size = self.size.max(pos + len);
        self.punch(pos, len);
        self.allocate(pos, len, false);
        if zeros_written {
            self.mark_written(pos, len);
        }
        for (rel, bytes) in runs {
            if *rel < len {
                let n = bytes.len().min((len - rel) as usize);
                self.write(pos + rel, &bytes[..n]);
            }
        }
    }

    /// Sets the size: shrinking drops blocks past it and zeroes the tail of the
    /// last block, so a later grow reads zeros.
    pub fn truncate(&mut self, size: u64) {
        self.before_grow(size);
        let bs = self.block_size;
        if size < self.size {
            let first_gone = size.div_ceil(bs);
            self.blocks.retain(|&bi, _| bi < first_gone);
            if !size.is_multiple_of(bs) {
                if let Some(Block::Data(d)) = self.blocks.get_mut(&(size / bs)) {
                    for b in &mut d[(size % bs) as usize..] {
                        *b = 0;
                    }
                }
            }
        }
        self.size = size;
    }

    /// Zeroes `[pos, pos+len)` without changing the size; whole blocks become
    /// holes (PUNCH_HOLE), partial blocks are zeroed in place.
    pub fn punch(&mut self, pos: u64, len: u64) {
        let bs = self.block_size;
        let end = pos.saturating_add(len);
        let keys: Vec<u64> = self
            .blocks
            .range(pos / bs..=end.saturating_sub(1) / bs)
            .map(|(k, _)| *k)
            .collect();
        for bi in keys {
            let bstart = bi * bs;
            let from = pos.max(bstart);
            let to = end.min(bstart + bs);
            if from == bstart && to == bstart + bs {
                self.blocks.remove(&bi);
            } else if let Some(Block::Data(d)) = self.blocks.get_mut(&bi) {
                for b in &mut d[(from - bstart) as usize..(to - bstart) as usize] {
                    *b = 0;
                }
            }
        }
    }

    /// After a PUNCH_HOLE of `[pos, pos+len)`: when the range covers every
    /// byte of the block holding EOF that lies below the size, the filesystem
    /// may free that block or keep it as zeroed data (ext4 rounds a punch that
    /// reaches EOF up to the page end), so it becomes unwritten: zeros that
    /// SEEK_DATA/SEEK_HOLE may report either way.
    pub fn punched_eof_block_may_go(&mut self, pos: u64, len: u64) {
        let bs = self.block_size;
        if self.size == 0 || self.size.is_multiple_of(bs) {
            return;
        }
        let last = (self.size - 1) / bs;
        if pos <= last * bs && pos.saturating_add(len) >= self.size {
            if let Some(b) = self.blocks.get_mut(&last) {
                *b = Block::Unwritten;
            }
        }
    }

    /// Zeroes `[pos, pos+len)` and leaves it allocated (ZERO_RANGE): whole
    /// blocks become unwritten extents, partial blocks zeroed data. With
    /// `written` (WRITE_ZEROES) the zeros are written data.
    pub fn zero_range(&mut self, pos: u64, len: u64, written: bool) {
        if len == 0 {
            return;
        }
        self.punch(pos, len);
        self.allocate(pos, len, false);
        if written {
            self.mark_written(pos, len);
        }
    }

    /// Removes the block-aligned range `[pos, pos+len)` and shifts what follows
    /// down (COLLAPSE_RANGE); the size shrinks by `len`.
    pub fn collapse(&mut self, pos: u64, len: u64) {
        let bs = self.block_size;
        let (first, n) = (pos / bs, len / bs);
        let tail = self.blocks.split_off(&first);
        for (bi, b) in tail {
            if bi >= first + n {
                self.blocks.insert(bi - n, b);
            }
        }
        self.size -= len;
    }

    /// Inserts a hole of `len` bytes at the block-aligned `pos`, shifting what
    /// follows up (INSERT_RANGE); the size grows by `len`.
    pub fn insert(&mut self, pos: u64, len: u64) {
        let bs = self.block_size;
        let (first, n) = (pos / bs, len / bs);
        let tail = self.blocks.split_off(&first);
        for (bi, b) in tail {
            self.blocks.insert(bi + n, b);
        }
        self.size += len;
    }

    /// Turns the unwritten blocks of `[pos, pos+len)` (already allocated) into
    /// written zeros. Iterates only over allocated blocks.
    fn mark_written(&mut self, pos: u64, len: u64) {
        let bs = self.block_size;
        for (_, b) in self.blocks.range_mut(pos / bs..=(pos + len - 1) / bs) {
            if *b == Block::Unwritten {
                *b = Block::Zero;
            }
        }
    }

    /// Allocates the blocks of `[pos, pos+len)` (fallocate mode 0 / KEEP_SIZE).
    /// With `promote`, blocks already allocated but unwritten become zero data
    /// (tmpfs: a second fallocate over a fallocated page marks it uptodate).
    pub fn allocate(&mut self, pos: u64, len: u64, promote: bool) {
        let bs = self.block_size;
        if len == 0 {
            return;
        }
        let last = (pos + len - 1) / bs;
        let mut bi = pos / bs;
        while bi <= last {
            match self.blocks.get(&bi) {
                None => {
                    self.blocks.insert(bi, Block::Unwritten);
                }
                Some(Block::Unwritten) if promote => {
                    self.blocks.insert(bi, Block::Zero);
                }
                Some(_) => {}
            }
            bi += 1;
        }
    }

    /// Where SEEK_DATA (`hole = false`) or SEEK_HOLE from `pos < size` may land,
    /// and whether SEEK_DATA may give ENXIO. A filesystem may report a hole or an
    /// unwritten block as data, never written data as a hole, and the virtual hole
    /// at EOF always exists; transitions happen only at block starts.
    pub fn seek_candidates(&self, pos: u64, hole: bool) -> (Vec<u64>, bool) {
        let bs = self.block_size;
        let size = self.size;
        let is_data = |bi: u64| matches!(self.blocks.get(&bi), Some(Block::Data(_) | Block::Zero));
        let mut out = vec![];
        if hole {
            if !is_data(pos / bs) {
                out.push(pos);
            }
            // Every block start after pos where a non-data block begins.
            for (&bi, b) in self.blocks.range(pos / bs..) {
                let start = bi * bs;
                if start >= size {
                    break;
                }
                if matches!(b, Block::Unwritten) && start > pos {
                    out.push(start);
                }
                if !self.blocks.contains_key(&(bi + 1)) && (bi + 1) * bs > pos {
                    out.push((bi + 1) * bs);
                }
            }
            out.push(size);
        } else {
            out.push(pos);
            let mut found = is_data(pos / bs);
            if !found {
                for (&bi, b) in self.blocks.range(pos / bs + 1..) {
                    let start = bi * bs;
                    if start >= size {
                        break;
                    }
                    out.push(start);
                    if matches!(b, Block::Data(_) | Block::Zero) {
                        found = true;
                        break;
                    }
                }
            }
            if !found {
                out.sort_unstable();
                out.dedup();
                return (out, true);
            }
        }
        out.retain(|&v| v < size || (hole && v == size));
        out.sort_unstable();
        out.dedup();
        (out, false)
    }

    /// The holes (runs of absent blocks) that meet `pos..size`, as inclusive
    /// `(start, end)` ranges clipped to `pos..=size`: where a filesystem may
    /// have preallocated blocks in a hole (see
    /// `FsProfile::holes_may_be_preallocated`), SEEK_HOLE may land anywhere in
    /// one of them and SEEK_DATA anywhere in the first.
    pub fn holes_from(&self, pos: u64) -> Vec<(u64, u64)> {
        let bs = self.block_size;
        let mut out = vec![];
        let mut cursor = pos;
        let mut blocks = self.blocks.range(pos / bs..).peekable();
        while cursor < self.size {
            // Skip the blocks that cover `cursor`.
            while let Some((&bi, _)) = blocks.peek() {
                if (bi + 1) * bs <= cursor {
                    blocks.next();
                } else {
                    break;
                }
            }
            match blocks.peek() {
                Some((&bi, _)) if bi * bs <= cursor => cursor = (bi + 1) * bs,
                Some((&bi, _)) => {
                    let end = (bi * bs).min(self.size);
                    out.push((cursor, end));
                    cursor = end;
                }
                None => {
                    out.push((cursor, self.size));
                    cursor = self.size;
                }
            }
        }
        out
    }

    /// True when the first data (written or unwritten) at or after `pos` is
    /// in the file's last possible block, the one holding byte LLONG_MAX - 1
    /// (see [`XFS_SEEK_DATA_LAST_BLOCK`]).
    pub fn next_data_is_in_last_block(&self, pos: u64) -> bool {
        let last = (i64::MAX as u64 - 1) / self.block_size;
        self.blocks
            .range(pos / self.block_size..)
            .next()
            .is_some_and(|(&bi, _)| bi == last)
    }

    /// True when a tmpfs SEEK_HOLE from `pos` would walk written pages up to
    /// and through the file's last possible page (the one holding byte
    /// LLONG_MAX - 1), whose end is 2^63: 6.18 then returns LLONG_MIN (see
    /// [`TMPFS_SEEK_HOLE_LAST_PAGE`]).
    pub fn hole_search_reaches_last_page(&self, pos: u64) -> bool {
        let bs = self.block_size;
        let last_page = (i64::MAX as u64 - 1) / bs;
        let written = |bi: u64| matches!(self.blocks.get(&bi), Some(Block::Data(_) | Block::Zero));
        if !written(last_page) {
            return false;
        }
        let mut bi = pos / bs;
        while bi < last_page {
            if !written(bi) {
                return false;
            }
            bi += 1;
        }
        true
    }

    /// SEEK_DATA/SEEK_HOLE where only written blocks count as data (tmpfs: a
    /// page is data once it holds written bytes; fallocated pages are holes).
    /// `None` is ENXIO. `pos` must be below the size.
    ///
    /// Observed on 6.18: data in the file's very last possible page (the one
    /// holding byte LLONG_MAX - 1) is invisible to SEEK_DATA/SEEK_HOLE on tmpfs,
    /// so that page counts as a hole here (see corpus/scenarios/files.toml).
    pub fn seek_exact(&self, pos: u64, hole: bool) -> Option<u64> {
        let bs = self.block_size;
        let last_page = (i64::MAX as u64 - 1) / bs;
        let is_data = |bi: u64| {
            bi < last_page && matches!(self.blocks.get(&bi), Some(Block::Data(_) | Block::Zero))
        };
        if hole {
            if !is_data(pos / bs) {
                return Some(pos);
            }
            let mut bi = pos / bs + 1;
            while is_data(bi) {
                bi += 1;
            }
            Some((bi * bs).min(self.size))
        } else {
            if is_data(pos / bs) {
                return Some(pos);
            }
            self.blocks
                .range(pos / bs + 1..)
                .find(|(&bi, _)| is_data(bi))
                .map(|(&bi, _)| bi * bs)
                .filter(|&start| start < self.size)
        }
    }

    /// The `(offset, bytes)` runs of non-zero bytes, for state snapshots.
    pub fn nonzero_runs(&self) -> Vec<(u64, Vec<u8>)> {
        let bs = self.block_size;
        let mut runs = Vec::new();
        for (&bi, b) in &self.blocks {
            if let Block::Data(d) = b {
                let start = bi * bs;
                if start >= self.size {
                    break;
                }
                let n = (self.size - start).min(bs) as usize;
                runs.extend(crate::state::nonzero_runs(start, &d[..n]));
            }
        }
        crate::state::merge_runs(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_holes() {
        let mut f = SparseFile::new(4096);
        f.write(10_000, b"abc");
        assert_eq!(f.size, 10_003);
        assert_eq!(f.read(9_999, 10), b"\0abc".to_vec());
        f.truncate(10_001);
        f.truncate(20_000);
        assert_eq!(f.read(10_000, 3), b"a\0\0".to_vec());
        assert_eq!(f.nonzero_runs(), vec![(10_000, b"a".to_vec())]);
    }

    #[test]
    fn collapse_and_insert_shift_blocks() {
        let mut f = SparseFile::new(4096);
        f.write(0, b"a");
        f.write(4096, b"b");
        f.write(8192, b"c");
        f.collapse(4096, 4096);
        assert_eq!(f.size, 8193 - 4096);
        assert_eq!(f.read(4096, 1), b"c".to_vec());
        f.insert(0, 8192);
        assert_eq!(f.read(8192, 1), b"a".to_vec());
        assert_eq!(f.read(0, 1), b"\0".to_vec());
        assert_eq!(f.size, 4097 + 8192);
    }

    #[test]
    fn seek_sets() {
        let mut f = SparseFile::new(4096);
        f.write(8192, b"x");
        f.truncate(20_000);
        // SEEK_DATA from 0 may land on 0 (hole reported as data) or 8192.
        assert_eq!(f.seek_candidates(0, false), (vec![0, 8192], false));
        // SEEK_HOLE from 8192: the block is data, next block 12288 is a hole, or EOF.
        assert_eq!(f.seek_candidates(8192, true), (vec![12288, 20000], false));
    }

    #[test]
    fn holes_from_lists_the_holes_clipped_to_the_file() {
        let mut f = SparseFile::new(4096);
        f.write(0, b"a");
        f.write(8192, b"x");
        f.truncate(20_000);
        assert_eq!(f.holes_from(0), vec![(4096, 8192), (12288, 20000)]);
        assert_eq!(f.holes_from(5000), vec![(5000, 8192), (12288, 20000)]);
        assert_eq!(f.holes_from(8192), vec![(12288, 20000)]);
        assert_eq!(f.holes_from(20_000), vec![]);
    }
}
