//! The exchange listener's connections: how many may be open, how many one
//! client certificate may hold, and how long one may sit without a word.
//!
//! A connection that finished its handshake and then sent nothing, half its
//! headers or half its body was kept forever: one partner certificate held
//! 3 000 of them (+72 MB). Now:
//!
//! - at most `limits.connections` are open at once; one beyond is closed
//!   before its handshake;
//! - at most `limits.connections_per_certificate` are held by one client
//!   certificate; one beyond is closed right after its handshake;
//! - a connection that reads and writes nothing for `limits.idle_timeout` is
//!   closed ([`Idle`]), which ends idle HTTP/2 connections;
//! - a request's headers must arrive within `limits.read_timeout` (hyper's
//!   header timeout, which also ends an HTTP/1.1 connection idle between
//!   requests), the first request after the handshake too, and its body
//!   within as long again (`app`'s body deadline).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How the listener treats connections.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// A handshake not finished by then is abandoned.
    pub handshake_timeout: Duration,
    /// Headers (and, apart, a body) not received by then end the request.
    pub read_timeout: Duration,
    /// A connection silent this long is closed.
    pub idle_timeout: Duration,
    pub connections: usize,
    pub per_certificate: usize,
}

impl Settings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            handshake_timeout: config.tls.handshake_timeout,
            read_timeout: config.limits.read_timeout,
            idle_timeout: config.limits.idle_timeout,
            connections: config.limits.connections,
            per_certificate: config.limits.connections_per_certificate,
        }
    }
}

/// A client certificate's connection streams: those whose peer is known.
pub trait Peer {
    /// The client's end-entity certificate, DER.
    fn peer(&self) -> Option<&[u8]>;
}

impl<S> Peer for tokio_rustls::server::TlsStream<S> {
    fn peer(&self) -> Option<&[u8]> {
        self.get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| leaf.as_ref())
    }
}

/// Wraps a TLS acceptor to keep the connection limits.
#[derive(Clone)]
pub struct Guarded<A> {
    inner: A,
    slots: Arc<Slots>,
}

struct Slots {
    open: Arc<Semaphore>,
    per_certificate: usize,
    held: Mutex<HashMap<Vec<u8>, usize>>,
    idle_timeout: Duration,
}

impl<A> Guarded<A> {
    pub fn new(inner: A, settings: &Settings) -> Self {
        Self {
            inner,
            slots: Arc::new(Slots {
                open: Arc::new(Semaphore::new(settings.connections)),
                per_certificate: settings.per_certificate,
                held: Mutex::new(HashMap::new()),
                idle_timeout: settings.idle_timeout,
            }),
        }
    }
}

impl<A, I, S> Accept<I, S> for Guarded<A>
where
    A: Accept<I, S>,
    A::Stream: Peer + Send + 'static,
    A::Service: Send + 'static,
    A::Future: Send + 'static,
    S: Send + 'static,
    I: Send + 'static,
{
    type Stream = Idle<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, A::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let Ok(open) = self.slots.open.clone().try_acquire_owned() else {
            refused("open");
            return Box::pin(std::future::ready(Err(io::Error::other(
                "too many connections are open",
            ))));
        };
        let handshake = self.inner.accept(stream, service);
        let slots = self.slots.clone();
        Box::pin(async move {
            let (stream, service) = handshake.await?;
            let held = Held::take(&slots, stream.peer().unwrap_or_default()).ok_or_else(|| {
                refused("certificate");
                io::Error::other("this certificate holds too many connections")
            })?;
            metrics::gauge!("caunoi_connections_open").increment(1.0);
            Ok((Idle::new(stream, slots.idle_timeout, (open, held)), service))
        })
    }
}

fn refused(reason: &'static str) {
    metrics::counter!("caunoi_connections_refused_total", "reason" => reason).increment(1);
}

/// One certificate's hold on a connection, given back when it closes.
struct Held {
    slots: Arc<Slots>,
    certificate: Vec<u8>,
}

impl Held {
    fn take(slots: &Arc<Slots>, certificate: &[u8]) -> Option<Self> {
        let mut held = slots
            .held
            .lock()
            .expect("the connection count is never poisoned");
        let count = held.entry(certificate.to_vec()).or_default();
        if *count >= slots.per_certificate {
            return None;
        }
        *count += 1;
        Some(Self {
            slots: slots.clone(),
            certificate: certificate.to_vec(),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        metrics::gauge!("caunoi_connections_open").decrement(1.0);
        let mut held = self
            .slots
            .held
            .lock()
            .expect("the connection count is never poisoned");
        if let Some(count) = held.get_mut(&self.certificate) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.certificate);
            }
        }
    }
}

/// A stream closed when nothing has been read or written on it for its idle
/// timeout. The clock is read only when the stream turns quiet, not on every
/// read and write.
pub struct Idle<S> {
    inner: S,
    idle: Duration,
    quiet_since: Pin<Box<tokio::time::Sleep>>,
    /// Something moved since the clock was last set.
    moved: bool,
    _slots: (OwnedSemaphorePermit, Held),
}

impl<S> Idle<S> {
    fn new(inner: S, idle: Duration, slots: (OwnedSemaphorePermit, Held)) -> Self {
        Self {
            inner,
            idle,
            quiet_since: Box::pin(tokio::time::sleep(idle)),
            moved: false,
            _slots: slots,
        }
    }

    /// After a poll that made no progress: whether the stream has been quiet
    /// too long.
    fn idle_too_long(&mut self, cx: &mut Context<'_>) -> bool {
        if self.moved {
            self.moved = false;
            let deadline = tokio::time::Instant::now() + self.idle;
            self.quiet_since.as_mut().reset(deadline);
        }
        self.quiet_since.as_mut().poll(cx).is_ready()
    }

    /// What a poll of the inner stream gave, the idle clock kept: progress
    /// sets it again, a stream quiet too long fails.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Pending if self.idle_too_long(cx) => Poll::Ready(Err(Self::timed_out())),
            Poll::Pending => Poll::Pending,
            ready => {
                self.moved = true;
                ready
            }
        }
    }

    fn timed_out() -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, "the connection was idle too long")
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.watch(cx, polled)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Idle<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
