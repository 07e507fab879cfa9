//! TLS for the server, with handshakes done here rather than inside tonic, so a failed one is
//! logged with the peer's address and the reason (no client certificate, one from another CA,
//! one without client authentication, plaintext sent to a TLS port), and counted
//! (`crm_tls_handshake_failures_total`). tonic still sees a TLS connection
//! (`TlsConnectInfo`). Handshakes run concurrently: a slow or silent client never holds up
//! the accept loop, and is dropped after [`HANDSHAKE_TIMEOUT`].

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, RootCertStore, server::WebPkiClientVerifier};
use tokio_rustls::server::TlsStream;
use tokio_stream::Stream;

use crate::incoming::{Connection, Incoming};
use crate::server::TlsPem;

/// How long a client has to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the TLS files cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file holds no usable certificate or key.
    #[error("{what}: {why}")]
    Pem {
        /// Which file.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// rustls refused the configuration (a key that does not match the certificate, ...).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The client CA cannot verify anything.
    #[error("--tls-client-ca: {0}")]
    ClientCa(#[from] rustls::server::VerifierBuilderError),
}

fn pem(what: &'static str) -> impl Fn(rustls_pki_types::pem::Error) -> TlsError {
    move |e| TlsError::Pem {
        what,
        why: e.to_string(),
    }
}

/// The acceptor for the server's certificate and key, asking for a client certificate from
/// `client_ca` when there is one (mutual TLS). ALPN offers HTTP/2 (gRPC) and HTTP/1.1.
pub fn acceptor(tls: &TlsPem) -> Result<TlsAcceptor, TlsError> {
    let certs = CertificateDer::pem_slice_iter(&tls.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem("--tls-cert"))?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what: "--tls-cert",
            why: "no certificate in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&tls.key).map_err(pem("--tls-key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca) {
                roots.add(cert.map_err(pem("--tls-client-ca"))?)?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key)?;
    // HTTP/1.1 too, for gRPC-Web clients that do not speak HTTP/2.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepted TCP connections, handed on once their TLS handshake completes.
pub struct TlsIncoming {
    tcp: Incoming,
    tcp_done: bool,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<TlsStream<TcpStream>>>,
}

impl std::fmt::Debug for TlsIncoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIncoming")
            .field("handshakes", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

impl TlsIncoming {
    /// Handshakes on the connections `tcp` accepts.
    pub fn new(tcp: Incoming, acceptor: TlsAcceptor) -> Self {
        TlsIncoming {
            tcp,
            tcp_done: false,
            acceptor,
            handshakes: JoinSet::new(),
        }
    }
}

async fn handshake(acceptor: TlsAcceptor, stream: TcpStream) -> Option<TlsStream<TcpStream>> {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "unknown".to_owned(), |p: SocketAddr| p.to_string());
    let failed = |reason: String| {
        metrics::counter!("crm_tls_handshake_failures_total").increment(1);
        tracing::info!(peer, reason, "TLS handshake failed");
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            failed(e.to_string());
            None
        }
        Err(_) => {
            failed(format!("no handshake within {HANDSHAKE_TIMEOUT:?}"));
            None
        }
    }
}

impl Stream for TlsIncoming {
    type Item = io::Result<Connection<TlsStream<TcpStream>>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if !self.tcp_done {
                match Pin::new(&mut self.tcp).poll_next(cx) {
                    Poll::Ready(Some(Ok(stream))) => {
                        let acceptor = self.acceptor.clone();
                        self.handshakes
                            .spawn(handshake(acceptor, stream.into_inner()));
                        continue;
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(None) => self.tcp_done = true,
                    Poll::Pending => {}
                }
            }
            return match self.handshakes.poll_join_next(cx) {
                Poll::Ready(Some(Ok(Some(tls)))) => Poll::Ready(Some(Ok(Connection::new(tls)))),
                // A failed handshake (logged) or a handshake task that panicked.
                Poll::Ready(Some(_)) => continue,
                Poll::Ready(None) if self.tcp_done => Poll::Ready(None),
                Poll::Ready(None) | Poll::Pending => Poll::Pending,
            };
        }
    }
}
