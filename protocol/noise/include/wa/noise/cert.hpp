// The server certificate chain sent (encrypted) in ServerHello:
// root key -> intermediate (issuerSerial = root serial) -> leaf (issuerSerial =
// intermediate serial, key = server static). Verification makes every check
// whatsmeow makes; creation serves the local stand-in server, whose root is a
// test key configured into clients (it cannot sign under WhatsApp's root).
#pragma once

#include <cstdint>

#include "wa/bytes.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/result.hpp"

namespace wa::noise {

// WhatsApp's production root ("WhatsAppLongTerm1"), serial 0.
inline constexpr crypto::Key32 kWaRootPublicKey = {
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b};
inline constexpr uint32_t kWaRootSerial = 0;

struct CertPolicy {
  crypto::Key32 root_public = kWaRootPublicKey;
  uint32_t root_serial = kWaRootSerial;  // required intermediate issuerSerial
};

// Fields of one NoiseCertificate.Details.
struct CertDetails {
  uint32_t serial = 0;
  uint32_t issuer_serial = 0;
  Bytes key;  // 32-byte X25519 public key
  uint64_t not_before = 0;  // unix seconds
  uint64_t not_after = 0;
};

// Serialized NoiseCertificate{details, XEdDSA(signer, details)}.
Bytes make_certificate(const CertDetails& details, const crypto::Key32& signer_priv);
// Serialized CertChain{leaf, intermediate} from two serialized certificates.
Bytes make_cert_chain(ByteView leaf_cert, ByteView intermediate_cert);

// What the local server holds: its signing hierarchy. Chains for any server
// static key are issued from it.
struct CertAuthority {
  crypto::KeyPair root;
  crypto::KeyPair intermediate;
  uint32_t intermediate_serial = 1;
  uint64_t not_before = 0;
  uint64_t not_after = 0;

  // Fresh root + intermediate valid for [now - 1 day, now + validity_s].
  static CertAuthority generate(uint64_t now_unix, uint64_t validity_s);
  CertPolicy policy() const { return CertPolicy{root.pub, kWaRootSerial}; }
  // Serialized CertChain for a server static key, leaf valid like the intermediate.
  Bytes issue_chain(const crypto::Key32& server_static_pub, uint32_t leaf_serial) const;
};

// Verifies a serialized CertChain against policy, the decrypted server static
// key and the current time. Error codes (each check distinct):
//   cert_malformed          chain/details unparseable or parts missing
//   cert_bad_signature_length  a signature is not 64 bytes
//   cert_untrusted_root     intermediate not signed by the configured root
//   cert_issuer_mismatch    intermediate issuerSerial != root serial
//   cert_bad_key_length     intermediate key not 32 bytes
//   cert_bad_signature      leaf not signed by the intermediate key
//   cert_not_yet_valid / cert_expired   (intermediate or leaf, message says which)
//   cert_leaf_issuer_mismatch  leaf issuerSerial != intermediate serial
//   cert_key_mismatch       leaf key != server static key
Status verify_cert_chain(ByteView chain, ByteView server_static, const CertPolicy& policy, uint64_t now_unix);

}  // namespace wa::noise
