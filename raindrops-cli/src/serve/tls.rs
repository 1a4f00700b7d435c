//! The rustls server configuration from a web configuration's
//! `tls_server_config`: certificate chain and key, client certificate
//! verification, protocol versions, TLS 1.2 cipher suites and key exchange
//! groups, mapped from the exporter-toolkit's (Go's) names.

use std::sync::Arc;

use rustls::crypto::{CryptoProvider, ring};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::web_config::{ClientAuth, Pem, TlsSettings, TlsVersion};

/// The largest PEM file read.
const MAX_PEM: u64 = 1 << 20;

/// Builds the server configuration; the error says what is wrong, with the
/// file it came from.
pub(super) fn server_config(t: &TlsSettings) -> Result<Arc<ServerConfig>, String> {
    let mut provider = ring::default_provider();
    if !t.cipher_suites.is_empty() {
        let mut chosen = Vec::new();
        for name in &t.cipher_suites {
            let canonical = name
                .strip_suffix("_CHACHA20_POLY1305")
                .map(|n| format!("{n}_CHACHA20_POLY1305_SHA256"))
                .unwrap_or_else(|| name.clone());
            let Some(s) = provider.cipher_suites.iter().find(|s| {
                matches!(s, SupportedCipherSuite::Tls12(_))
                    && format!("{:?}", s.suite()) == canonical
            }) else {
                let known: Vec<String> = provider
                    .cipher_suites
                    .iter()
                    .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
                    .map(|s| format!("{:?}", s.suite()))
                    .collect();
                return Err(format!(
                    "cipher suite {name} is not supported (TLS 1.2 suites: {})",
                    known.join(", ")
                ));
            };
            chosen.push(*s);
        }
        // As in Go, the list is for TLS 1.2; TLS 1.3 suites stay.
        let tls13: Vec<SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
            .copied()
            .collect();
        provider.cipher_suites = tls13.into_iter().chain(chosen).collect();
    }
    if !t.curve_preferences.is_empty() {
        let mut groups = Vec::new();
        for c in &t.curve_preferences {
            groups.push(match c.as_str() {
                "X25519" => ring::kx_group::X25519,
                "CurveP256" => ring::kx_group::SECP256R1,
                "CurveP384" => ring::kx_group::SECP384R1,
                other => {
                    return Err(format!(
                        "curve {other} is not supported (known: X25519, CurveP256, CurveP384)"
                    ));
                }
            });
        }
        provider.kx_groups = groups;
    }
    let provider: Arc<CryptoProvider> = Arc::new(provider);
    let versions: Vec<&'static SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (t.min_version..=t.max_version).contains(v))
    .map(|(_, v)| v)
    .collect();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS settings: {e}"))?;
    let builder = match (t.client_auth, &t.client_ca) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(ca)) => {
            let mut roots = RootCertStore::empty();
            let pem = read(ca, "client_ca")?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("client_ca{}: {e}", origin(ca)))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("client_ca{}: {e}", origin(ca)))?;
            }
            if roots.is_empty() {
                return Err(format!("client_ca{}: no certificate in it", origin(ca)));
            }
            let mut v =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            if auth == ClientAuth::VerifyIfGiven {
                v = v.allow_unauthenticated();
            }
            let v = v
                .build()
                .map_err(|e| format!("client_ca{}: {e}", origin(ca)))?;
            builder.with_client_cert_verifier(v)
        }
    };
    let cert_pem = read(&t.cert, "cert")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cert{}: {e}", origin(&t.cert)))?;
    if chain.is_empty() {
        return Err(format!("cert{}: no certificate in it", origin(&t.cert)));
    }
    let key_pem = read(&t.key, "key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("key{}: {e}", origin(&t.key)))?;
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("cert and key: {e}"))?;
    config.ignore_client_order = t.prefer_server_cipher_suites;
    // Prometheus scrapes over HTTP/1.1, the one protocol served.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn origin(p: &Pem) -> String {
    match p {
        Pem::File(f) => format!(" ({})", f.display()),
        Pem::Inline(_) => " (inline)".into(),
    }
}

fn read(p: &Pem, what: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    match p {
        Pem::Inline(s) => Ok(s.clone().into_bytes()),
        Pem::File(f) => {
            let file =
                std::fs::File::open(f).map_err(|e| format!("{what}_file {}: {e}", f.display()))?;
            let mut buf = Vec::new();
            file.take(MAX_PEM + 1)
                .read_to_end(&mut buf)
                .map_err(|e| format!("{what}_file {}: {e}", f.display()))?;
            if buf.len() as u64 > MAX_PEM {
                return Err(format!(
                    "{what}_file {}: larger than {MAX_PEM} bytes",
                    f.display()
                ));
            }
            Ok(buf)
        }
    }
}
