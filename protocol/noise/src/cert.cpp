#include "wa/noise/cert.hpp"

#include <string>

#include "wa/proto/handshake.pb.h"

namespace wa::noise {
namespace {

using NoiseCertificate = wa::proto::CertChain::NoiseCertificate;

std::string str(ByteView b) { return std::string(as_chars(b)); }

Status check_validity(const NoiseCertificate::Details& d, uint64_t now, const char* which) {
  if (now < d.notbefore()) return fail("cert_not_yet_valid", std::string(which) + " certificate not valid yet");
  if (now > d.notafter()) return fail("cert_expired", std::string(which) + " certificate expired");
  return {};
}

bool parse(google::protobuf::MessageLite& msg, const std::string& bytes) {
  return msg.ParseFromString(bytes);
}

}  // namespace

Bytes make_certificate(const CertDetails& details, const crypto::Key32& signer_priv) {
  NoiseCertificate::Details d;
  d.set_serial(details.serial);
  d.set_issuerserial(details.issuer_serial);
  d.set_key(str(details.key));
  d.set_notbefore(details.not_before);
  d.set_notafter(details.not_after);
  const std::string raw = d.SerializeAsString();
  const crypto::Sig64 sig = crypto::xeddsa_sign(signer_priv, as_bytes(raw));
  NoiseCertificate cert;
  cert.set_details(raw);
  cert.set_signature(str(sig));
  return to_bytes(cert.SerializeAsString());
}

Bytes make_cert_chain(ByteView leaf_cert, ByteView intermediate_cert) {
  wa::proto::CertChain chain;
  // Inputs come from make_certificate; a parse failure leaves the part empty
  // and verification of the result fails, which is what a caller must see.
  (void)chain.mutable_leaf()->ParseFromArray(leaf_cert.data(), static_cast<int>(leaf_cert.size()));
  (void)chain.mutable_intermediate()->ParseFromArray(intermediate_cert.data(),
                                                     static_cast<int>(intermediate_cert.size()));
  return to_bytes(chain.SerializeAsString());
}

CertAuthority CertAuthority::generate(uint64_t now_unix, uint64_t validity_s) {
  CertAuthority ca;
  ca.root = crypto::generate_keypair();
  ca.intermediate = crypto::generate_keypair();
  // Non-zero, so a leaf wrongly naming serial 0 as issuer is caught.
  ca.intermediate_serial = (crypto::random_u32() & 0x7fffffffU) | 1U;
  ca.not_before = now_unix > 86400 ? now_unix - 86400 : 0;
  ca.not_after = now_unix + validity_s;
  return ca;
}

Bytes CertAuthority::issue_chain(const crypto::Key32& server_static_pub, uint32_t leaf_serial) const {
  CertDetails inter{intermediate_serial, kWaRootSerial, Bytes(intermediate.pub.begin(), intermediate.pub.end()),
                    not_before, not_after};
  CertDetails leaf{leaf_serial, intermediate_serial, Bytes(server_static_pub.begin(), server_static_pub.end()),
                   not_before, not_after};
  return make_cert_chain(make_certificate(leaf, intermediate.priv), make_certificate(inter, root.priv));
}

Status verify_cert_chain(ByteView chain_bytes, ByteView server_static, const CertPolicy& policy, uint64_t now) {
  if (chain_bytes.size() > 64 * 1024) return fail("cert_malformed", "certificate chain too large");
  wa::proto::CertChain chain;
  if (!chain.ParseFromArray(chain_bytes.data(), static_cast<int>(chain_bytes.size()))) {
    return fail("cert_malformed", "certificate chain does not parse");
  }
  if (!chain.has_intermediate() || !chain.has_leaf() || !chain.intermediate().has_details() ||
      !chain.intermediate().has_signature() || !chain.leaf().has_details() || !chain.leaf().has_signature()) {
    return fail("cert_malformed", "missing parts of the certificate chain");
  }
  const std::string& inter_raw = chain.intermediate().details();
  const std::string& inter_sig = chain.intermediate().signature();
  const std::string& leaf_raw = chain.leaf().details();
  const std::string& leaf_sig = chain.leaf().signature();
  if (inter_sig.size() != 64) return fail("cert_bad_signature_length", "intermediate signature is not 64 bytes");
  if (leaf_sig.size() != 64) return fail("cert_bad_signature_length", "leaf signature is not 64 bytes");
  if (!crypto::xeddsa_verify(policy.root_public, as_bytes(inter_raw), as_bytes(inter_sig))) {
    return fail("cert_untrusted_root", "intermediate certificate not signed by the trusted root");
  }
  NoiseCertificate::Details inter;
  if (!parse(inter, inter_raw)) return fail("cert_malformed", "intermediate details do not parse");
  if (inter.issuerserial() != policy.root_serial) {
    return fail("cert_issuer_mismatch", "intermediate issuer serial is not the root's");
  }
  if (inter.key().size() != 32) return fail("cert_bad_key_length", "intermediate key is not 32 bytes");
  if (!crypto::xeddsa_verify(as_bytes(inter.key()), as_bytes(leaf_raw), as_bytes(leaf_sig))) {
    return fail("cert_bad_signature", "leaf certificate not signed by the intermediate");
  }
  if (auto st = check_validity(inter, now, "intermediate"); !st) return st;
  NoiseCertificate::Details leaf;
  if (!parse(leaf, leaf_raw)) return fail("cert_malformed", "leaf details do not parse");
  if (leaf.issuerserial() != inter.serial()) {
    return fail("cert_leaf_issuer_mismatch", "leaf issuer serial is not the intermediate's serial");
  }
  if (!crypto::equal_ct(as_bytes(leaf.key()), server_static)) {
    return fail("cert_key_mismatch", "leaf key is not the server's static key");
  }
  if (auto st = check_validity(leaf, now, "leaf"); !st) return st;
  return {};
}

}  // namespace wa::noise
