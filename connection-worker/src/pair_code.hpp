// Pairing by phone-number code (docs/PROTOCOL.md §5.2): the 8-character code,
// the companion_hello that registers it with the server, and the answer to
// the server's link_code_companion_reg notification, which derives the new
// ADV secret the following pair-success is authenticated with.
#pragma once

#include <string>

#include "credentials.hpp"
#include "settings.hpp"
#include "wa/binary/node.hpp"

namespace wa::connection {

// 8 characters from 5 random bytes, alphabet 123456789ABCDEFGHJKLMNPQRSTVWXYZ.
std::string make_pairing_code();
std::string encode_pairing_code(ByteView five_bytes);

// salt(32) || iv(16) || AES-256-CTR(PBKDF2(code, salt, 2^17), iv, pub32).
Bytes wrap_pairing_key(std::string_view code, ByteView pub32);
Result<crypto::Key32> unwrap_pairing_key(std::string_view code, ByteView wrapped);

struct PairCodeRequest {
  std::string code;
  crypto::KeyPair ephemeral;
  std::string phone_jid;  // PHONE@s.whatsapp.net
};

// Validates the digits (6..20) and builds the state and the companion_hello iq.
Result<PairCodeRequest> new_pair_code_request(std::string_view phone_digits);
binary::Node companion_hello_iq(const PairCodeRequest& req, const Credentials& creds, const ClientSettings& settings,
                                const std::string& id);

struct CompanionFinish {
  Bytes adv_secret;      // 32, replaces the QR secret for this pairing
  binary::Node content;  // <link_code_companion_reg stage=companion_finish> child for the iq
};
// Answers <notification type="link_code_companion_reg"> for `req`.
Result<CompanionFinish> companion_finish(const binary::Node& notification, const PairCodeRequest& req,
                                         const Credentials& creds);

}  // namespace wa::connection
