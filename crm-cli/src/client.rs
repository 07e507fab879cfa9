//! The connection to a crm server: address, TLS, the API key and the origin every call carries.

use std::path::PathBuf;

use anyhow::{Context, bail};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// How to reach the server.
#[derive(Clone, Debug, clap::Args)]
pub struct ConnectArgs {
    /// The server's address: http://HOST:PORT, or https://HOST:PORT for TLS.
    #[arg(
        long,
        env = "CRM_ADDR",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub addr: String,
    /// An API key (sent as `authorization: Bearer KEY`).
    #[arg(long, env = "CRM_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    /// The origin the writes of this command carry (`x-crm-origin`), so a feed consumer can
    /// tell them apart.
    #[arg(long, env = "CRM_ORIGIN", global = true)]
    pub origin: Option<String>,
    /// The CA certificate (PEM) that signed the server's certificate.
    #[arg(long, env = "CRM_CA_CERT", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// This client's certificate (PEM), for a server that asks for one (mutual TLS).
    #[arg(long, env = "CRM_CLIENT_CERT", requires = "client_key", global = true)]
    pub client_cert: Option<PathBuf>,
    /// This client's private key (PEM).
    #[arg(long, env = "CRM_CLIENT_KEY", requires = "client_cert", global = true)]
    pub client_key: Option<PathBuf>,
}

/// A connected client: the channel and what every request carries.
#[derive(Clone, Debug)]
pub struct Conn {
    pub channel: Channel,
    api_key: Option<String>,
    origin: Option<String>,
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

impl Conn {
    /// Connects (failing fast when nothing listens).
    pub async fn connect(args: &ConnectArgs) -> anyhow::Result<Conn> {
        let mut endpoint = Endpoint::from_shared(args.addr.clone())
            .with_context(|| format!("{:?} is not an address (http://host:port)", args.addr))?
            .connect_timeout(std::time::Duration::from_secs(5));
        if args.addr.starts_with("https://") {
            let mut tls = ClientTlsConfig::new().with_enabled_roots();
            if let Some(ca) = &args.ca_cert {
                tls = tls.ca_certificate(Certificate::from_pem(read(ca)?));
            }
            if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
                tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            endpoint = endpoint.tls_config(tls)?;
        } else if args.ca_cert.is_some() || args.client_cert.is_some() {
            bail!("TLS flags need an https:// address");
        }
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot connect to {}", args.addr))?;
        Ok(Conn {
            channel,
            api_key: args.api_key.clone(),
            origin: args.origin.clone(),
        })
    }

    /// A request carrying the key and origin.
    pub fn request<T>(&self, message: T) -> anyhow::Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        if let Some(key) = &self.api_key {
            request.metadata_mut().insert(
                "authorization",
                format!("Bearer {key}")
                    .parse()
                    .context("the API key is not valid header text")?,
            );
        }
        if let Some(origin) = &self.origin {
            request.metadata_mut().insert(
                "x-crm-origin",
                origin
                    .parse()
                    .context("the origin is not valid header text")?,
            );
        }
        Ok(request)
    }
}
