//! The accept loop: connections with Nagle's algorithm off and TCP keepalive on, and a pause
//! instead of a spin when the process runs out of file descriptors.
//!
//! - A unary response goes out as several small writes (headers, message, trailers); with
//!   Nagle on, the last one can wait for the client's delayed ACK, adding about 40 ms to a share
//!   of the calls. (tonic sets `TCP_NODELAY` only on listeners it binds itself.)
//! - At the descriptor limit (`EMFILE`, `ENFILE`) or out of kernel memory (`ENOBUFS`,
//!   `ENOMEM`), `accept` fails at once, again and again, while the pending connection stays
//!   queued: retrying at once spins a core. The loop sleeps instead, from 5 ms doubling to 1 s,
//!   and logs once per episode; connections already open are served meanwhile.
//! - Other accept errors concern one connection (it was reset before it was accepted): the
//!   loop goes on to the next.
//! - Each connection is a [`Connection`], which tells HTTP/2 to copy small frames into one
//!   write instead of writing them from where they lie (see there).

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// Accepted connections, as a stream for `serve_with_incoming`.
#[derive(Debug)]
pub struct Incoming {
    listener: TcpListener,
    pause: Option<Pin<Box<Sleep>>>,
    next_pause: Duration,
    keepalive: Option<Duration>,
}

impl Incoming {
    /// Accepts on `listener`.
    pub fn new(listener: TcpListener) -> Incoming {
        Incoming {
            listener,
            pause: None,
            next_pause: FIRST_PAUSE,
            keepalive: None,
        }
    }

    /// Turns TCP keepalive on for accepted connections: the kernel probes a connection idle
    /// for `idle`, so a peer that vanished without a word is dropped.
    pub fn tcp_keepalive(mut self, idle: Duration) -> Incoming {
        self.keepalive = Some(idle);
        self
    }
}

/// Whether an accept error is the process or the system running out of something, which
/// retrying at once cannot fix.
fn out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == libc_code::EMFILE
            || code == libc_code::ENFILE
            || code == libc_code::ENOBUFS
            || code == libc_code::ENOMEM
    )
}

/// The Linux error numbers (the same on the other Unix systems crm runs on, but for ENOBUFS,
/// which only matters on Linux).
mod libc_code {
    pub const ENOMEM: i32 = 12;
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const ENOBUFS: i32 = 105;
}

impl tokio_stream::Stream for Incoming {
    type Item = io::Result<Connection<TcpStream>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(pause) = self.pause.as_mut() {
                if pause.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.pause = None;
            }
            match self.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok((stream, _))) => {
                    self.next_pause = FIRST_PAUSE;
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "cannot turn off Nagle's algorithm");
                    }
                    if let Some(idle) = self.keepalive {
                        let keepalive = socket2::TcpKeepalive::new()
                            .with_time(idle)
                            .with_interval(idle / 3);
                        if let Err(e) =
                            socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)
                        {
                            tracing::debug!(error = %e, "cannot turn on TCP keepalive");
                        }
                    }
                    return Poll::Ready(Some(Ok(Connection(stream))));
                }
                Poll::Ready(Err(e)) if out_of_resources(&e) => {
                    if self.next_pause == FIRST_PAUSE {
                        tracing::warn!(
                            error = %e,
                            "cannot accept connections: out of descriptors or memory; \
                             pausing the accept loop (raise the limit with ulimit -n)"
                        );
                    }
                    metrics::counter!("crm_accept_pauses_total").increment(1);
                    let pause = self.next_pause;
                    self.next_pause = (pause * 2).min(LONGEST_PAUSE);
                    self.pause = Some(Box::pin(tokio::time::sleep(pause)));
                }
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "a connection failed before it was accepted");
                }
            }
        }
    }
}

/// An accepted connection (TCP, or TLS over TCP) that says it cannot write from several
/// buffers at once, so HTTP/2 writes each batch of frames with one `write`.
///
/// h2 copies a DATA frame's payload into its write buffer only when it is smaller than a
/// threshold: 256 bytes on a connection that writes vectored, 1,024 on one that does not.
/// A larger payload is written from where it lies, and h2 flushes it before it takes the next
/// frame. A unary answer is headers, one message and trailers: with a message of 256 bytes or
/// more (a customer usually is), the trailers went out in a second `writev` of 10 bytes, and
/// every call cost two system calls and two TCP segments instead of one. Copying up to a
/// kilobyte costs far less than a system call. Bigger messages (pages of a list) are still
/// written from where they lie.
#[derive(Debug)]
pub struct Connection<T>(T);

impl<T> Connection<T> {
    /// The connection itself.
    pub fn into_inner(self) -> T {
        self.0
    }

    /// Wraps `io` (a TLS stream over an accepted [`Connection`]'s socket).
    pub fn new(io: T) -> Connection<T> {
        Connection(io)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Connection<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Connection<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

impl<T: tonic::transport::server::Connected> tonic::transport::server::Connected for Connection<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.0.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWrite as _;
    use tokio_stream::Stream as _;

    use super::*;

    /// A socket writes vectored, so h2 would write any message of 256 bytes or more from
    /// where it lies, and its trailers in a write of their own; an accepted connection says it
    /// does not, so h2 copies frames up to a kilobyte into one write.
    #[tokio::test]
    async fn an_accepted_connection_asks_http2_to_copy_small_frames() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let client = TcpStream::connect(addr).await.expect("connect");
        let mut incoming = Incoming::new(listener);
        let accepted = std::future::poll_fn(|cx| Pin::new(&mut incoming).poll_next(cx))
            .await
            .expect("a connection")
            .expect("accepted");
        assert!(client.is_write_vectored());
        assert!(!accepted.is_write_vectored());
        let socket = accepted.into_inner();
        assert!(socket.is_write_vectored());
        assert_eq!(socket.peer_addr().ok(), client.local_addr().ok());
    }
}
