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

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

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
    type Item = io::Result<TcpStream>;

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
                    return Poll::Ready(Some(Ok(stream)));
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
