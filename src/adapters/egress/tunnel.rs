//! An HTTP CONNECT tunnel through the egress proxy (RFC 9110 §9.3.6): one TCP connection to the
//! proxy, `CONNECT host:port` with the proxy's credentials, and once the proxy answers 2xx the
//! same connection carries whatever the caller speaks (TLS, or HTTP/2 with prior knowledge) end
//! to end. The proxy sees the target's authority and nothing of the content.

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{EgressError, proxy::ProxyUrl};

/// A proxy's answer head is a status line and a few headers; a longer one is not an answer.
const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Asks `proxy` (already connected as `tcp`) for a tunnel to `target` (`host:port`).
pub async fn open(mut tcp: TcpStream, proxy: &ProxyUrl, target: &str) -> Result<TcpStream, EgressError> {
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(authorization) = proxy.authorization() {
        request.push_str(&format!("Proxy-Authorization: {}\r\n", authorization.expose()));
    }
    request.push_str("\r\n");
    let failed = |error: std::io::Error| EgressError::Proxy { proxy: proxy.to_string(), error };
    tcp.write_all(request.as_bytes()).await.map_err(failed)?;
    let head = read_head(&mut tcp).await.map_err(failed)?;
    let status_line = head.lines().next().unwrap_or_default().trim().to_owned();
    let status = status_line.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(200..=299) if status_line.starts_with("HTTP/1.") => Ok(tcp),
        _ => {
            let answer = if status_line.is_empty() { "no answer".to_owned() } else { status_line };
            // Logged here as well as returned: the provider's own log words the failure after
            // its endpoint, and an operator reading it needs the proxy's answer to fix the proxy.
            tracing::warn!(proxy = %proxy, %target, %answer, "the egress proxy refused the tunnel");
            Err(EgressError::Refused { proxy: proxy.to_string(), target: target.to_owned(), answer })
        }
    }
}

/// The answer's head, read a byte at a time: whatever follows the blank line is the target's
/// (an HTTP/2 server may speak first) and must stay in the socket for the caller.
async fn read_head(tcp: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(128);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD_BYTES {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the proxy's answer head is too long"));
        }
        if tcp.read(&mut byte).await? == 0 {
            // Closed before a whole head: what came is still the proxy's answer, if any.
            break;
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
