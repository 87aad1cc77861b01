// The media host's TLS identity: every client of the real media host speaks
// https only, so the local one needs a certificate a test can trust. At
// first start the server makes a test CA per state dir (EC P-256,
// self-signed, CA:TRUE) and a leaf for 127.0.0.1 and localhost signed by it;
// later starts reuse both (a new leaf is made only when the old one is about
// to expire). Clients trust DIR/media-ca.pem (or DIR/media-ca.d).
#pragma once

#include <string>

#include "wa/result.hpp"

namespace wa::testserver::media {

struct TlsFiles {
  std::string ca_cert;    // DIR/media-ca.pem (0644): what clients trust
  std::string ca_key;     // DIR/media-ca.key (0600)
  std::string leaf_cert;  // DIR/media-leaf.pem (0600): chain leaf + CA
  std::string leaf_key;   // DIR/media-leaf.key (0600)
  // DIR/media-ca.d (0755): the CA again as OpenSSL's hashed directory
  // wants it (<subject hash>.0), so a client adds it to its trust with
  // SSL_CERT_DIR=/etc/ssl/certs:DIR/media-ca.d and keeps the system's.
  std::string ca_dir;
};

TlsFiles tls_files(const std::string& state_dir);

// Creates what is missing (or no longer valid) and returns the paths.
Result<TlsFiles> ensure_tls(const std::string& state_dir);

}  // namespace wa::testserver::media
