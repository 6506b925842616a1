//! The mTLS listener (contract §1, production): the TLS handshake authenticates the client
//! certificate, the partner registry authorizes it. A certificate is accepted at the handshake when
//! it chains to a configured client CA, or when its SHA-256 thumbprint is enrolled for a partner
//! (so a self-signed certificate works only once enrolled). Each request then carries the
//! thumbprint ([`ClientCertificate`]); a CA-issued certificate that no partner enrolled gets 401.
//! Clients may also connect without a certificate and use a bearer key, unless their partner
//! refuses keys.

use crate::auth::ClientCertificate;
use axum::Router;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;
use wes_domain::masterdata::MasterData;

/// SHA-256 of the DER certificate, lowercase hex: what the registry enrolls.
pub fn thumbprint(cert: &CertificateDer<'_>) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(cert.as_ref()))
}

#[derive(Debug)]
struct RegistryVerifier {
    /// Verifies chains to the configured client CAs; `None` when only enrolled certificates count.
    ca: Option<Arc<dyn ClientCertVerifier>>,
    masterdata: watch::Receiver<Arc<MasterData>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for RegistryVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    /// Optional at the handshake: a client without a certificate may still use a bearer key.
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.ca.as_ref().map_or(&[], |ca| ca.root_hint_subjects())
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let enrolled = self
            .masterdata
            .borrow()
            .partner_for_certificate(&thumbprint(end_entity))
            .is_some();
        if enrolled {
            return Ok(ClientCertVerified::assertion());
        }
        match &self.ca {
            Some(ca) => ca.verify_client_cert(end_entity, intermediates, now),
            None => Err(rustls::Error::General(
                "client certificate is not enrolled and no client CA is configured".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("reading {path}: {message}")]
    File { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let error = |message: String| TlsSetupError::File {
        path: path.display().to_string(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    if certs.is_empty() {
        return Err(error("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

/// The server side of the mTLS listener: its certificate chain and key, and the client CAs.
pub fn server_config(
    cert_chain: &Path,
    private_key: &Path,
    client_ca: Option<&Path>,
    masterdata: watch::Receiver<Arc<MasterData>>,
) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let ca = match client_ca {
        None => None,
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(path)? {
                roots
                    .add(cert)
                    .map_err(|e| TlsSetupError::Config(format!("client CA: {e}")))?;
            }
            Some(
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| TlsSetupError::Config(format!("client CA: {e}")))?,
            )
        }
    };
    let key = PrivateKeyDer::from_pem_file(private_key).map_err(|e| TlsSetupError::File {
        path: private_key.display().to_string(),
        message: e.to_string(),
    })?;
    let verifier = Arc::new(RegistryVerifier {
        ca,
        masterdata,
        provider: provider.clone(),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certificates(cert_chain)?, key)
        .map_err(|e| TlsSetupError::Config(format!("server certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` over mTLS until the process stops. A failed handshake (an unenrolled
/// self-signed certificate, a certificate from an unknown CA) closes that connection only.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    router: Router,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use tower::ServiceExt;
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a TLS connection");
                continue;
            }
        };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::info!(%peer, error = %e, "TLS handshake refused");
                    return;
                }
            };
            let certificate = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| ClientCertificate(thumbprint(cert)));
            let service = hyper::service::service_fn(
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    if let Some(certificate) = &certificate {
                        request.extensions_mut().insert(certificate.clone());
                    }
                    router.clone().oneshot(request.map(axum::body::Body::new))
                },
            );
            if let Err(e) = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "TLS connection ended");
            }
        });
    }
}
