// The emulated primary phone: what a real phone does when it links a
// companion. It reads the companion's QR (or completes code pairing), signs
// the companion's identity with the account key (ADV), and checks the
// companion's counter-signature. Pure functions: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "wa/bytes.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/result.hpp"

namespace wa::testserver::phone {

inline constexpr std::string_view kQrPrefix = "https://wa.me/settings/linked_devices#";

struct QrInfo {
  std::string ref;
  Bytes noise_pub;     // 32
  Bytes identity_pub;  // 32
  Bytes adv_secret;    // 32
  std::string platform;
};

// "REF,B64(noise),B64(identity),B64(adv),PLATFORM", with or without the
// wa.me prefix. Errors: bad_qr.
Result<QrInfo> parse_qr(std::string_view qr);

struct PairSuccess {
  Bytes container;        // serialized ADVSignedDeviceIdentityHMAC (the <device-identity> content)
  Bytes device_details;   // serialized ADVDeviceIdentity the companion must counter-sign
  uint32_t key_index = 0;
};

// Builds the signed identity for a companion (docs/PROTOCOL.md §5.1, the phone's side).
PairSuccess make_pair_success(const crypto::KeyPair& account_identity, ByteView companion_identity_pub32,
                              ByteView adv_secret, uint32_t key_index, uint64_t now_unix);

// Checks the companion's pair-device-sign: its ADVSignedDeviceIdentity must
// carry exactly the details we issued and a device signature by the
// companion's identity over 06 01 || details || identity || account key.
// Errors: bad_signed_identity, details_mismatch, bad_device_signature.
Status verify_pair_device_sign(ByteView signed_identity, ByteView issued_details, ByteView companion_identity_pub32,
                               ByteView account_pub32);

// ---- phone-number code pairing (docs/PROTOCOL.md §5.2), the phone's side ----

// salt(32) || iv(16) || AES-CTR(PBKDF2(code, salt), iv, pub32).
Result<Bytes> unwrap_link_code_key(std::string_view code, ByteView wrapped80);
Bytes wrap_link_code_key(std::string_view code, ByteView pub32);

// From the companion's wrapped key bundle: the adv secret both sides derive.
// primary_eph: the phone's link-code ephemeral; companion_eph_pub: unwrapped
// from companion_hello. Errors: bad_bundle, bundle_mismatch.
Result<Bytes> link_code_adv_secret(const crypto::KeyPair& primary_eph, ByteView companion_eph_pub,
                                   const crypto::KeyPair& account_identity, ByteView companion_identity_pub,
                                   ByteView wrapped_bundle);

}  // namespace wa::testserver::phone
