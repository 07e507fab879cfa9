//! `crm-server certs`: a development PKI for TLS and mutual TLS, so the README's TLS section can
//! be followed without openssl recipes. One new CA per run; the server certificate names the
//! given hosts and addresses (server authentication), each client certificate names its client
//! (client authentication: a certificate without that extended key usage is refused by
//! verifiers that check it).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// What `certs` writes: the CA, the server's pair and one pair per client.
pub struct Request {
    /// The directory to write into (created; files already there are never overwritten).
    pub out: PathBuf,
    /// DNS names and IP addresses the server certificate is valid for.
    pub names: Vec<String>,
    /// The clients to issue certificates for (their common name).
    pub clients: Vec<String>,
}

/// Writes the files and returns their paths, in the order written.
pub fn write(request: &Request) -> anyhow::Result<Vec<PathBuf>> {
    if request.names.is_empty() {
        bail!("give the server's names with --name (localhost, 127.0.0.1, crm.internal, ...)");
    }
    let mut files: Vec<(String, String)> = Vec::new();
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name = named("crm development CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    files.push(("ca.key".into(), ca_key.serialize_pem()));
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key)?;
    files.insert(0, ("ca.pem".into(), ca.pem()));

    let mut server = CertificateParams::new(request.names.clone())
        .context("a --name is neither a DNS name nor an IP address")?;
    server.distinguished_name = named(&request.names[0]);
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &ca)?;
    files.push(("server.pem".into(), server_cert.pem()));
    files.push(("server.key".into(), server_key.serialize_pem()));

    for client in &request.clients {
        if client.is_empty()
            || !client
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            bail!("--client {client:?}: use letters, digits, '-', '_' or '.' (it names the files)");
        }
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = named(client);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;
        files.push((format!("{client}.pem"), cert.pem()));
        files.push((format!("{client}.key"), key.serialize_pem()));
    }

    std::fs::create_dir_all(&request.out)
        .with_context(|| format!("cannot create {}", request.out.display()))?;
    for (name, _) in &files {
        let path = request.out.join(name);
        if path.exists() {
            bail!(
                "{} exists: choose another --out, or remove it first",
                path.display()
            );
        }
    }
    let mut written = Vec::new();
    for (name, pem) in files {
        let path = request.out.join(&name);
        save(&path, &pem, name.ends_with(".key"))?;
        written.push(path);
    }
    Ok(written)
}

fn named(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Writes a file that did not exist; keys are readable by their owner only.
fn save(path: &Path, contents: &str, secret: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}
