//! Pipes and FIFOs as the kernel keeps them: a ring of at most 16 page-sized
//! buffers. Writes merge into the last buffer only when it is mergeable (written
//! by write(2), not spliced from a file or teed), so how much a pipe can still
//! take depends on its history; the model keeps the same buffers to be exact.

use std::collections::VecDeque;

/// PAGE_SIZE.
pub const PAGE: usize = 4096;
/// Default pipe capacity in buffers (pipe->max_usage).
pub const SLOTS: usize = 16;

/// One pipe buffer: `data` sits at `offset` inside its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buf {
    /// Offset of the data inside its page.
    pub offset: usize,
    /// The bytes still queued in this buffer.
    pub data: Vec<u8>,
    /// PIPE_BUF_FLAG_CAN_MERGE.
    pub can_merge: bool,
    /// The file whose page-cache page this buffer references (splice from a
    /// file is zero-copy: the pipe holds the file's page, not a copy).
    pub source: Option<usize>,
    /// The source file was modified after the splice: what the buffer holds now
    /// depends on which pages the write touched, which the model does not track.
    pub stale: bool,
}

/// A pipe: its buffers and how many readers and writers have it open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pipe {
    /// The ring of buffers, oldest first.
    pub bufs: VecDeque<Buf>,
    /// Open read ends.
    pub readers: u32,
    /// Open write ends.
    pub writers: u32,
    /// The last read end was closed through io_uring with IOSQE_ASYNC on a
    /// kernel before 6.18: the io-wq worker posts the CLOSE's completion
    /// before its task work drops the file, so for a while later requests
    /// still see a reader (a write succeeds instead of EPIPE). Observed on
    /// Debian 6.1 and 6.12 in TCG guests (uring/async write and splice rows),
    /// not on 6.18. Writers then get [`LAZY_RELEASE`] (the run is poisoned).
    pub lazy_release: bool,
    /// How many times a FIFO was opened for writing (pipe->w_counter).
    pub w_counter: u64,
}

/// Why a run is poisoned when a pipe's last reader may not be released yet
/// (see [`Pipe::lazy_release`]).
pub const LAZY_RELEASE: &str = "the pipe's last reader was closed by an io-wq worker \
    (IOSQE_ASYNC, before 6.18) whose task work may release it after later requests";

impl Pipe {
    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.bufs.iter().map(|b| b.data.len()).sum()
    }

    /// True when no bytes are queued.
    pub fn is_empty(&self) -> bool {
        self.bufs.is_empty()
    }

    /// True when every slot holds a buffer.
    pub fn is_full(&self) -> bool {
        self.bufs.len() >= SLOTS
    }

    /// Free slots.
    pub fn free_slots(&self) -> usize {
        SLOTS.saturating_sub(self.bufs.len())
    }

    /// Drops one opener; when nobody has the pipe open its contents go.
    pub fn release(&mut self, reader: bool, writer: bool) {
        if reader {
            self.readers -= 1;
        }
        if writer {
            self.writers -= 1;
        }
        if self.readers == 0 && self.writers == 0 {
            self.bufs.clear();
        }
    }

    /// How many bytes write(2) of `data` would queue right now (pipe_write): the
    /// sub-page remainder may merge into the last buffer, then whole new pages are
    /// filled while slots are free. Returns 0 when nothing fits.
    pub fn write_capacity(&self, len: usize) -> usize {
        let mut room = 0;
        let chars = len % PAGE;
        let mut left = len;
        if chars != 0 {
            if let Some(last) = self.bufs.back() {
                if last.can_merge && last.offset + last.data.len() + chars <= PAGE {
                    room += chars;
                    left -= chars;
                }
            }
        }
        room + left.min(self.free_slots() * PAGE)
    }

    /// Appends what [`Pipe::write_capacity`] allows, exactly as pipe_write does.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let mut done = 0;
        let chars = data.len() % PAGE;
        if chars != 0 {
            if let Some(last) = self.bufs.back_mut() {
                if last.can_merge && last.offset + last.data.len() + chars <= PAGE {
                    last.data.extend_from_slice(&data[..chars]);
                    done = chars;
                }
            }
        }
        while done < data.len() && !self.is_full() {
            let n = (data.len() - done).min(PAGE);
            self.bufs.push_back(Buf {
                offset: 0,
                data: data[done..done + n].to_vec(),
                can_merge: true,
                source: None,
                stale: false,
            });
            done += n;
        }
        done
    }

    /// Removes and returns up to `len` bytes from the front (pipe_read).
    pub fn read(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < len {
            let Some(front) = self.bufs.front_mut() else {
                break;
            };
            let n = (len - out.len()).min(front.data.len());
            out.extend_from_slice(&front.data[..n]);
            front.data.drain(..n);
            front.offset += n;
            if front.data.is_empty() {
                self.bufs.pop_front();
            }
        }
        out
    }

    /// Queues bytes spliced from a file at `pos`: one unmergeable buffer per page
    /// of the file touched, while slots are free. Returns how many bytes fit.
    pub fn splice_in(&mut self, source: usize, pos: u64, data: &[u8]) -> usize {
        let mut done = 0;
        while done < data.len() && !self.is_full() {
            let off = ((pos + done as u64) % PAGE as u64) as usize;
            let n = (data.len() - done).min(PAGE - off);
            self.bufs.push_back(Buf {
                offset: off,
                data: data[done..done + n].to_vec(),
                can_merge: false,
                source: Some(source),
                stale: false,
            });
            done += n;
        }
        done
    }

    /// True if reading the first `len` bytes would touch a stale buffer.
    pub fn front_is_stale(&self, len: usize) -> bool {
        let mut seen = 0;
        for b in &self.bufs {
            if seen >= len {
                break;
            }
            if b.stale {
                return true;
            }
            seen += b.data.len();
        }
        false
    }

    /// Marks buffers referencing pages of `ino` as stale (the file changed).
    pub fn file_changed(&mut self, ino: usize) {
        for b in &mut self.bufs {
            if b.source == Some(ino) {
                b.stale = true;
            }
        }
    }

    /// How many bytes a splice from a file at `pos` could queue (at most `len`).
    pub fn splice_in_capacity(&self, pos: u64, len: u64) -> u64 {
        let mut done = 0u64;
        let mut slots = self.free_slots();
        while done < len && slots > 0 {
            let off = (pos + done) % PAGE as u64;
            done += (len - done).min(PAGE as u64 - off);
            slots -= 1;
        }
        done
    }

    /// Moves up to `len` bytes of whole or split buffers into `out`
    /// (splice_pipe_to_pipe): whole buffers keep their flags, a split one loses
    /// CAN_MERGE. Returns bytes moved.
    pub fn move_to(&mut self, out: &mut Pipe, len: usize) -> usize {
        let mut moved = 0;
        while moved < len && !out.is_full() {
            let Some(front) = self.bufs.front_mut() else {
                break;
            };
            let want = len - moved;
            if want >= front.data.len() {
                let b = self.bufs.pop_front().expect("front exists");
                moved += b.data.len();
                out.bufs.push_back(b);
            } else {
                out.bufs.push_back(Buf {
                    offset: front.offset,
                    data: front.data[..want].to_vec(),
                    can_merge: false,
                    ..front.clone()
                });
                front.data.drain(..want);
                front.offset += want;
                moved += want;
            }
        }
        moved
    }

    /// Duplicates up to `len` bytes of buffers into `out` without consuming them
    /// (link_pipe, used by tee): copies never merge.
    pub fn tee_to(&self, out: &mut Pipe, len: usize) -> usize {
        let mut done = 0;
        for b in &self.bufs {
            if done >= len || out.is_full() {
                break;
            }
            let n = (len - done).min(b.data.len());
            out.bufs.push_back(Buf {
                offset: b.offset,
                data: b.data[..n].to_vec(),
                can_merge: false,
                ..b.clone()
            });
            done += n;
        }
        done
    }
}

/// Why a run is poisoned when spliced pages changed under a pipe.
pub const STALE: &str =
    "the pipe holds page-cache pages of a file written after the splice (zero-copy)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_writes_merge() {
        let mut p = Pipe::default();
        for _ in 0..100 {
            assert_eq!(p.write(b"0123456789"), 10);
        }
        assert_eq!(p.bufs.len(), 1);
        assert_eq!(p.read(5), b"01234".to_vec());
    }

    #[test]
    fn capacity_is_sixteen_pages() {
        let mut p = Pipe::default();
        assert_eq!(p.write(&vec![1; 70000]), 65536);
        assert_eq!(p.write_capacity(1), 0);
    }

    #[test]
    fn spliced_buffers_do_not_merge() {
        let mut p = Pipe::default();
        p.splice_in(7, 10, b"abc");
        assert_eq!(p.write_capacity(1), 1);
        assert_eq!(p.bufs.len(), 1);
        p.write(b"d");
        assert_eq!(p.bufs.len(), 2);
    }
}

#[cfg(test)]
mod lazy_release_tests {
    use crate::{Allowed, Errno, FdRef, Fs, Interface, Off, Op, Outcome, Payload, Profile};

    /// A pipe whose read end is closed, then a write to it, judged on `kernel`
    /// through io_uring with IOSQE_ASYNC or not.
    fn write_after_close(kernel: (u32, u32), uring_async: bool) -> Allowed {
        let mut p = Profile::default_tmpfs();
        p.kernel = kernel;
        p.interface = Interface::Uring;
        p.uring_async = uring_async;
        let mut fs = Fs::new(p);
        let pipe = Op::Pipe {
            read_slot: 0,
            write_slot: 1,
            nonblock: false,
        };
        assert!(fs.step(&pipe).check(&Outcome::ok(0)).is_ok());
        fs.commit(&pipe, &Outcome::ok(0)).unwrap();
        let close = Op::Close { fd: FdRef::Slot(0) };
        fs.commit(&close, &Outcome::ok(0)).unwrap();
        fs.step(&Op::Write {
            fd: FdRef::Slot(1),
            data: Payload::Text("abc".into()),
            offset: Off::Pos,
        })
    }

    #[test]
    fn an_async_close_may_release_the_reader_late_before_6_18() {
        assert!(matches!(
            write_after_close((6, 12), true),
            Allowed::Unmodelled(_)
        ));
        for (kernel, uring_async) in [((6, 18), true), ((6, 12), false)] {
            let a = write_after_close(kernel, uring_async);
            assert!(a.check(&Outcome::err(Errno::EPIPE)).is_ok(), "{a}");
        }
    }
}
