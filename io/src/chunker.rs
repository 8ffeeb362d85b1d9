//! Cuts a stream of writes into chunks of exactly `size` bytes, in a few
//! buffers used again and again, and tells which chunks are known not to be
//! the last (S3's last part and GCS's final chunk are sent by `finish`).

use bytes::{Bytes, BytesMut};

/// The smallest buffer a chunk starts in.
const MIN_BUFFER: usize = 64 << 10;

pub struct Chunker {
    size: usize,
    current: BytesMut,
    /// A full chunk, held until more data shows it is not the last.
    full: Option<Bytes>,
    /// Buffers of chunks already sent, for the next ones.
    spare: Vec<BytesMut>,
}

impl Chunker {
    pub fn new(size: usize) -> Self {
        Chunker {
            size,
            current: BytesMut::new(),
            full: None,
            spare: Vec::new(),
        }
    }

    /// Takes `data`; returns the chunks ready to send, in order.
    pub fn push(&mut self, mut data: &[u8]) -> Vec<Bytes> {
        let mut ready = Vec::new();
        while !data.is_empty() {
            if let Some(full) = self.full.take() {
                ready.push(full);
            }
            if self.current.capacity() == 0 {
                // A new buffer starts at what this write needs (a small
                // object never holds a whole chunk's memory) and grows up
                // to a chunk; recycled ones are whole already.
                self.current = self
                    .spare
                    .pop()
                    .unwrap_or_else(|| BytesMut::with_capacity(data.len().clamp(MIN_BUFFER, self.size)));
            }
            let n = (self.size - self.current.len()).min(data.len());
            self.current.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.current.len() == self.size {
                self.full = Some(std::mem::take(&mut self.current).freeze());
            }
        }
        ready
    }

    /// Takes back a sent chunk's buffer, if nothing else holds it.
    pub fn recycle(&mut self, sent: Bytes) {
        if let Ok(mut buf) = sent.try_into_mut()
            && buf.capacity() >= self.size
        {
            buf.clear();
            self.spare.push(buf);
        }
    }

    /// The last chunk (possibly empty), once everything was pushed.
    pub fn last(&mut self) -> Bytes {
        match self.full.take() {
            Some(full) => {
                debug_assert!(self.current.is_empty());
                full
            }
            None => std::mem::take(&mut self.current).freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHUNK: usize = 1 << 20;

    #[test]
    fn chunks_are_whole_and_the_last_is_held_back() {
        let mut c = Chunker::new(CHUNK);
        assert!(c.push(&vec![1u8; CHUNK - 1]).is_empty());
        assert!(c.push(&[2u8]).is_empty(), "a full chunk may be the last: held");
        let ready = c.push(&[3u8; 10]);
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].len(), CHUNK);
        assert_eq!(c.last().len(), 10);
        let mut exact = Chunker::new(CHUNK);
        assert!(exact.push(&vec![0u8; 2 * CHUNK]).len() == 1);
        assert_eq!(exact.last().len(), CHUNK, "the second full chunk is the last");
        assert_eq!(Chunker::new(CHUNK).last().len(), 0);
    }

    #[test]
    fn a_small_object_does_not_hold_a_whole_chunk() {
        let mut c = Chunker::new(8 << 20);
        assert!(c.push(&[7; 4096]).is_empty());
        assert!(c.current.capacity() <= 64 << 10, "{}", c.current.capacity());
        assert_eq!(&c.last()[..], &[7; 4096][..]);
        // A big one grows its buffer to a whole chunk, which is kept.
        let mut c = Chunker::new(1 << 20);
        let data = vec![1u8; (1 << 20) + 10];
        let ready: Vec<Bytes> = c
            .push(&data[..300_000])
            .into_iter()
            .chain(c.push(&data[300_000..]))
            .collect();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].len(), 1 << 20);
        c.recycle(ready.into_iter().next().unwrap());
        assert_eq!(c.spare.len(), 1);
    }

    #[test]
    fn sent_buffers_are_used_again() {
        let mut c = Chunker::new(CHUNK);
        let first = c.push(&vec![1u8; CHUNK + 1]).pop().unwrap();
        let ptr = first.as_ptr();
        c.recycle(first);
        let _ = c.last();
        let again = c.push(&vec![2u8; CHUNK + 1]).pop().unwrap();
        assert_eq!(again.as_ptr(), ptr, "the buffer was reused");
        assert!(again.iter().all(|b| *b == 2));
    }
}
