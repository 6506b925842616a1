//! The mTLS listener against the partner registry: the handshake authenticates, the registry
//! authorizes; the per-partner switch refuses bearer keys.

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::Path;
use wes_tests::*;

/// A certificate with its key, as PEM, and its SHA-256 thumbprint.
struct Pem {
    cert: String,
    key: String,
    thumbprint: String,
}

fn pem(cert: &rcgen::Certificate, key: &KeyPair) -> Pem {
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
        thumbprint: hex(Sha256::digest(cert.der())),
    }
}

fn hex(bytes: impl AsRef<[u8]>) -> String {
    bytes.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn leaf(name: &str, client: bool) -> (CertificateParams, KeyPair) {
    let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    (params, KeyPair::generate().unwrap())
}

struct Pki {
    ca: Pem,
    server: Pem,
    /// Issued by the CA and enrolled for Acme.
    acme: Pem,
    /// Issued by the CA, enrolled for nobody.
    stranger: Pem,
    /// Self-signed and enrolled for Acme.
    pinned: Pem,
    /// Self-signed, enrolled for nobody.
    rogue: Pem,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(vec![]).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "wes test partner CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issued = |name: &str, client: bool| {
        let (params, key) = leaf(name, client);
        pem(&params.signed_by(&key, &ca, &ca_key).unwrap(), &key)
    };
    let self_signed = |name: &str| {
        let (params, key) = leaf(name, true);
        pem(&params.self_signed(&key).unwrap(), &key)
    };
    Pki {
        ca: pem(&ca, &ca_key),
        server: issued("wes.test", false),
        acme: issued("acme-wes", true),
        stranger: issued("stranger", true),
        pinned: self_signed("acme-pinned"),
        rogue: self_signed("rogue"),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn client(pki: &Pki, addr: SocketAddr, identity: Option<&Pem>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca.cert.as_bytes()).unwrap()])
        .resolve("wes.test", addr);
    if let Some(id) = identity {
        let both = format!("{}{}", id.cert, id.key);
        builder = builder.identity(reqwest::Identity::from_pem(both.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

async fn post_movement(
    client: &reqwest::Client,
    addr: SocketAddr,
    bearer: Option<&str>,
    body: &Value,
) -> Result<(u16, Value), reqwest::Error> {
    let mut request = client
        .post(format!(
            "https://wes.test:{}/wes/v1/realtime/movements",
            addr.port()
        ))
        .json(body);
    if let Some(key) = bearer {
        request = request.bearer_auth(key);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

fn receive(cid: &str) -> Value {
    movement(cid, "RECEIVE", "SKU-WIDGET-RED-LG", 1, None, Some("DOCK-3"))
}

async fn client_certificates_authenticate_and_the_registry_authorizes(db: Db) {
    let pki = pki();
    let files = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let (addr_text, cert, key, ca) = (
        addr.to_string(),
        write(files.path(), "server.pem", &pki.server.cert),
        write(files.path(), "server.key", &pki.server.key),
        write(files.path(), "ca.pem", &pki.ca.cert),
    );
    let hub = Hub::start_with(
        db,
        &[
            ("WES_TLS_ADDR", &addr_text),
            ("WES_TLS_CERT", &cert),
            ("WES_TLS_KEY", &key),
            ("WES_TLS_CLIENT_CA", &ca),
        ],
    )
    .await;
    let acme_path = "/planner/v1/partners/WH-Tokyo-01%2FAcmeWES";
    let acme = |extra: Value| {
        let mut body = json!({"role": "EXECUTOR", "allowed_warehouses": ["WH-Tokyo-01"]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    // Enrolled as operators paste thumbprints: upper case with colons works too.
    let colons = pki
        .pinned
        .thumbprint
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let (status, body) = hub
        .put(
            acme_path,
            ADMIN_KEY,
            &acme(json!({"cert_sha256": [pki.acme.thumbprint, colons]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let with_acme = client(&pki, addr, Some(&pki.acme));
    let (status, body) = post_movement(&with_acme, addr, None, &receive("tls-1"))
        .await
        .unwrap();
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("ACCEPTED")),
        "{body}"
    );
    let mut osaka = receive("tls-2");
    osaka["warehouse_id"] = "WH-Osaka-02".into();
    osaka["to_location"] = "DOCK-1".into();
    let (status, body) = post_movement(&with_acme, addr, None, &osaka).await.unwrap();
    assert_eq!(status, 403);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("#cross-warehouse-credential")
    );
    let (status, _) = post_movement(
        &client(&pki, addr, Some(&pki.pinned)),
        addr,
        None,
        &receive("tls-3"),
    )
    .await
    .unwrap();
    assert_eq!(
        status, 200,
        "an enrolled self-signed certificate is accepted"
    );
    let (status, body) = post_movement(
        &client(&pki, addr, Some(&pki.stranger)),
        addr,
        None,
        &receive("tls-4"),
    )
    .await
    .unwrap();
    assert_eq!(status, 401, "a valid certificate nobody enrolled: {body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains(&pki.stranger.thumbprint)
    );
    assert!(
        post_movement(
            &client(&pki, addr, Some(&pki.rogue)),
            addr,
            None,
            &receive("tls-5")
        )
        .await
        .is_err(),
        "a self-signed certificate nobody enrolled is refused at the handshake"
    );
    let (status, _) = post_movement(
        &client(&pki, addr, None),
        addr,
        Some(ACME_KEY),
        &receive("tls-6"),
    )
    .await
    .unwrap();
    assert_eq!(
        status, 200,
        "bearer keys work over TLS while the partner allows them"
    );

    // Production switch: Acme refuses bearer keys; its certificate still works.
    let (status, body) = hub
        .put(
            acme_path,
            ADMIN_KEY,
            &acme(json!({"bearer_allowed": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = hub.movements(&receive("tls-7")).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("mTLS"));
    let (status, _) = post_movement(&with_acme, addr, None, &receive("tls-8"))
        .await
        .unwrap();
    assert_eq!(status, 200);

    // Removing an enrolled certificate takes effect at once.
    let (status, body) = hub
        .put(
            acme_path,
            ADMIN_KEY,
            &acme(json!({"revoke_cert_sha256": [pki.acme.thumbprint]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = post_movement(&with_acme, addr, None, &receive("tls-9"))
        .await
        .unwrap();
    assert_eq!(status, 401);
    let partners = hub.admin_get("/planner/v1/masterdata").await;
    let acme = partners["partners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partner_id"] == "WH-Tokyo-01/AcmeWES")
        .unwrap()
        .clone();
    assert_eq!(acme["cert_sha256"], json!([pki.pinned.thumbprint]));
    assert_eq!(acme["bearer_allowed"], false);

    hub.wait_caught_up().await;
    let rows = hub
        .admin_get("/planner/v1/ledger/movements?warehouse_id=WH-Tokyo-01")
        .await;
    let mut cids: Vec<&str> = rows["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["executor_correlation_id"].as_str().unwrap())
        .collect();
    cids.sort();
    assert_eq!(
        cids,
        ["tls-1", "tls-3", "tls-6", "tls-8"],
        "only accepted requests wrote"
    );
}

on_sqlite_and_postgres!(client_certificates_authenticate_and_the_registry_authorizes);
