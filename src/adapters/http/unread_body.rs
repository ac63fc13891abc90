//! What a handler left of an HTTP/1 request body: read and dropped (bounded) before the answer
//! goes out, so that the connection can serve the next request; past the bounds the answer says
//! `Connection: close`.
//!
//! Handlers that take no body (`DELETE /clients/{id}`, `PUT /admin/projects/{id}`, a refusal
//! before the body is read) drop it unread. hyper then cannot find where the next request starts
//! unless the rest of the body happens to be in its buffer already, so it closes the connection
//! after the answer — an answer that did not say so, and a client that sent its next request on
//! the connection sees it fail. Reading what is left keeps the connection; a body larger than
//! the server would accept, or one that does not arrive within the body read timeout, is not
//! worth waiting for, and the client is told the connection closes.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, combinators::BoxBody};
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::oneshot;

type Inner = BoxBody<Bytes, io::Error>;

/// The bounds on reading what a handler left.
#[derive(Debug, Clone, Copy)]
pub struct UnreadBodyLimits {
    /// At most this many bytes are read (the largest body the server accepts); a body declared
    /// larger is not read at all.
    pub max_bytes: usize,
    /// Within this time (the body read timeout).
    pub timeout: Duration,
}

/// A request body that gives itself back through [`Leftover`] when it is dropped before its end.
pub struct Returnable {
    inner: Option<Inner>,
    /// The body ended (or failed): there is nothing left to read.
    done: bool,
    back: Option<oneshot::Sender<Inner>>,
}

/// Where an unfinished [`Returnable`] comes back once the handler is done with it.
pub struct Leftover {
    back: oneshot::Receiver<Inner>,
    /// The request's `Content-Length`, if it had one.
    declared: Option<u64>,
}

/// Wraps `body` (whose request declared `declared` bytes) for the handler.
pub fn returnable(body: Inner, declared: Option<u64>) -> (Returnable, Leftover) {
    let (tx, rx) = oneshot::channel();
    (Returnable { inner: Some(body), done: false, back: Some(tx) }, Leftover { back: rx, declared })
}

impl Leftover {
    /// Once the handler has answered: reads and drops what it left of the body. `false` when the
    /// connection cannot serve another request (the body was larger than allowed, did not arrive
    /// in time, or failed): the answer must then say `Connection: close`.
    pub async fn drain(mut self, limits: UnreadBodyLimits) -> bool {
        // Nothing came back: the body was read to its end (or is still held, which no handler
        // does; hyper then decides as before).
        let Ok(mut body) = self.back.try_recv() else { return true };
        if self.declared.is_some_and(|n| n > limits.max_bytes as u64) {
            return false;
        }
        let read_rest = async {
            let mut read = 0usize;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { return false };
                read += frame.data_ref().map_or(0, Bytes::len);
                if read > limits.max_bytes {
                    return false;
                }
            }
            true
        };
        tokio::time::timeout(limits.timeout, read_rest).await.unwrap_or(false)
    }
}

impl Drop for Returnable {
    fn drop(&mut self) {
        let (Some(inner), Some(back)) = (self.inner.take(), self.back.take()) else { return };
        if !self.done && !inner.is_end_stream() {
            let _ = back.send(inner);
        }
    }
}

impl Body for Returnable {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.done = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map(Body::size_hint).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    const LIMITS: UnreadBodyLimits = UnreadBodyLimits { max_bytes: 10, timeout: Duration::from_millis(200) };

    /// A body of these chunks with no declared length (like a chunked request); after them it
    /// ends, or with `stall` never sends anything again.
    struct Chunks {
        parts: VecDeque<&'static [u8]>,
        stall: bool,
    }

    impl Body for Chunks {
        type Data = Bytes;
        type Error = io::Error;

        fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
            let this = self.get_mut();
            match this.parts.pop_front() {
                Some(part) => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(part))))),
                None if this.stall => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    fn chunks(parts: &[&'static [u8]], stall: bool) -> Inner {
        Chunks { parts: parts.iter().copied().collect(), stall }.boxed()
    }

    #[tokio::test]
    async fn a_body_read_to_its_end_does_not_come_back() {
        let (mut body, mut leftover) = returnable(chunks(&[b"abc", b"def"], false), None);
        while body.frame().await.is_some() {}
        drop(body);
        assert!(leftover.back.try_recv().is_err());
    }

    #[tokio::test]
    async fn what_is_left_within_the_bound_is_read_and_the_connection_stays() {
        let (mut body, leftover) = returnable(chunks(&[b"abc", b"0123456789"], false), None);
        body.frame().await.unwrap().unwrap();
        drop(body);
        assert!(leftover.drain(LIMITS).await, "ten bytes left, ten allowed");
    }

    #[tokio::test]
    async fn more_than_the_bound_a_declared_length_over_it_or_a_stalled_body_closes() {
        let (body, leftover) = returnable(chunks(&[b"0123456", b"789ab"], false), None);
        drop(body);
        assert!(!leftover.drain(LIMITS).await, "eleven bytes left");

        let (body, leftover) = returnable(chunks(&[b"0"], false), Some(11));
        drop(body);
        assert!(!leftover.drain(LIMITS).await, "declared larger than allowed");

        let (body, leftover) = returnable(chunks(&[b"01"], true), Some(5));
        drop(body);
        assert!(!leftover.drain(LIMITS).await, "the rest does not arrive within the timeout");
    }
}
