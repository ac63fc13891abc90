//! Telling HTTP/1 from HTTP/2 on a fresh connection, within a deadline.
//!
//! hyper-util's auto builder reads the first bytes (up to the 24-byte HTTP/2 preface) before any
//! of its own timeouts start, so a client that sends nothing, or half of the preface, would hold
//! a connection slot forever. Here the transport reads those bytes itself, under the header-read
//! timeout, and hands hyper a stream that replays them: hyper then decides at once, and the
//! transport knows which protocol the connection speaks (it watches HTTP/2 connections for
//! idleness, which hyper does not).

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// What an HTTP/2 client with prior knowledge sends first (RFC 9113, section 3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A stream whose first bytes were already read: they are replayed before the rest.
pub struct Replayed<S> {
    head: Vec<u8>,
    pos: usize,
    inner: S,
}

/// Reads until the bytes either are the HTTP/2 preface or cannot become it (an HTTP/1 request
/// line differs at its first byte). Returns the stream with those bytes put back, and whether it
/// is HTTP/2. The caller bounds the time this takes; a stream that ends first is an error.
pub async fn read<S: AsyncRead + Unpin>(mut stream: S) -> io::Result<(Replayed<S>, bool)> {
    let mut head = Vec::with_capacity(H2_PREFACE.len());
    let mut buf = [0u8; 24];
    while head.len() < H2_PREFACE.len() && H2_PREFACE.starts_with(&head) {
        let want = H2_PREFACE.len() - head.len();
        let n = stream.read(&mut buf[..want]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let is_h2 = head.as_slice() == H2_PREFACE;
    Ok((Replayed { head, pos: 0, inner: stream }, is_h2))
}

impl<S: AsyncRead + Unpin> AsyncRead for Replayed<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.pos < self.head.len() {
            let n = buf.remaining().min(self.head.len() - self.pos);
            buf.put_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.head.len() {
                self.head = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replayed<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    async fn sniff(sent: &[u8]) -> (Vec<u8>, bool) {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(sent).await.unwrap();
        client.write_all(b"rest").await.unwrap();
        drop(client);
        let (mut replayed, is_h2) = read(server).await.unwrap();
        let mut all = Vec::new();
        replayed.read_to_end(&mut all).await.unwrap();
        (all, is_h2)
    }

    #[tokio::test]
    async fn tells_the_protocols_apart_and_loses_no_byte() {
        assert_eq!(sniff(H2_PREFACE).await, ([&H2_PREFACE[..], b"rest"].concat(), true));
        assert_eq!(sniff(b"GET / HTTP/1.1\r\n").await, (b"GET / HTTP/1.1\r\nrest".to_vec(), false));
        // "P" could still be the preface; "POST" cannot.
        assert_eq!(sniff(b"POST /").await, (b"POST /rest".to_vec(), false));
    }

    #[tokio::test]
    async fn a_half_preface_keeps_waiting() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(&H2_PREFACE[..16]).await.unwrap();
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), read(server)).await;
        assert!(waited.is_err(), "no decision before the preface is complete or broken");
    }
}
