// Media retry: when the media host no longer has a file (403/404/410), the
// receiver asks the sender's phone to upload it again with a server-error
// receipt; the answer is a mediaretry notification. Both carry an
// AES-256-GCM payload under a key derived from the media key, with the
// message id as associated data.
#include <charconv>

#include "wa/binary/jid.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/media/media.hpp"
#include "wa/proto/message.pb.h"

namespace wa::media {

namespace {

constexpr size_t kRetryIvBytes = 12;

binary::Node rmr_node(const std::string& chat, bool from_me, const std::string& participant) {
  binary::Attrs a{{"jid", chat}, {"from_me", from_me ? "true" : "false"}};
  if (!participant.empty()) a.emplace_back("participant", participant);
  return binary::Node("rmr", std::move(a));
}

// <encrypt><enc_p>CT</enc_p><enc_iv>IV</enc_iv></encrypt> around `plain`.
Result<binary::Node> encrypt_node(const std::string& msg_id, ByteView media_key, const std::string& plain) {
  auto key = retry_key(media_key);
  if (!key) return Unexpected<Error>{key.error()};
  Bytes iv = crypto::random_bytes(kRetryIvBytes);
  auto ct = crypto::aes_gcm_encrypt(*key, iv, as_bytes(msg_id), as_bytes(plain));
  secure_wipe(*key);
  if (!ct) return Unexpected<Error>{ct.error()};
  binary::Children kids;
  kids.emplace_back("enc_p", binary::Attrs{}, std::move(*ct));
  kids.emplace_back("enc_iv", binary::Attrs{}, std::move(iv));
  return binary::Node("encrypt", binary::Attrs{}, std::move(kids));
}

}  // namespace

Result<Bytes> retry_key(ByteView media_key) {
  if (media_key.size() != kMediaKeyBytes) return fail("bad_key", "a media key has 32 bytes");
  Bytes k = crypto::hkdf_sha256(media_key, {}, as_bytes("WhatsApp Media Retry Notification"), 32);
  if (k.size() != 32) return fail("bad_key", "key derivation failed");
  return k;
}

Result<binary::Node> build_retry_receipt(const std::string& msg_id, const std::string& own_pn, const std::string& chat,
                                         bool from_me, const std::string& participant, ByteView media_key) {
  auto own = binary::Jid::parse(own_pn);
  if (!own) return fail("bad_jid", "own jid: " + own.error().message);
  if (chat.empty()) return fail("bad_jid", "no chat jid");
  wa::proto::ServerErrorReceipt receipt;
  receipt.set_stanzaid(msg_id);
  auto enc = encrypt_node(msg_id, media_key, receipt.SerializeAsString());
  if (!enc) return Unexpected<Error>{enc.error()};
  binary::Children kids;
  kids.push_back(std::move(*enc));
  kids.push_back(rmr_node(chat, from_me, participant));
  return binary::Node("receipt", binary::Attrs{{"id", msg_id}, {"to", own->to_non_ad().str()}, {"type", "server-error"}},
                      std::move(kids));
}

Result<RetryAnswer> parse_retry_notification(const binary::Node& n, ByteView media_key) {
  if (n.tag != "notification") return fail("bad_stanza", "not a notification");
  RetryAnswer ans;
  ans.msg_id = std::string(n.attr_or("id", ""));
  if (ans.msg_id.empty()) return fail("bad_stanza", "mediaretry notification without id");
  if (const binary::Node* err = n.child("error")) {
    const std::string_view code = err->attr_or("code", "");
    auto [end, ec] = std::from_chars(code.data(), code.data() + code.size(), ans.error_code);
    if (ec != std::errc() || end != code.data() + code.size() || ans.error_code == 0) {
      return fail("bad_stanza", "mediaretry error without a numeric code");
    }
    return ans;
  }
  const binary::Node* enc = n.child("encrypt");
  const binary::Node* p = enc ? enc->child("enc_p") : nullptr;
  const binary::Node* iv = enc ? enc->child("enc_iv") : nullptr;
  if (!p || !iv || !p->bytes() || !iv->bytes()) return fail("bad_stanza", "mediaretry notification without a payload");
  if (iv->bytes()->size() != kRetryIvBytes) return fail("bad_stanza", "mediaretry iv is not 12 bytes");
  auto key = retry_key(media_key);
  if (!key) return Unexpected<Error>{key.error()};
  auto plain = crypto::aes_gcm_decrypt(*key, *iv->bytes(), as_bytes(ans.msg_id), *p->bytes());
  secure_wipe(*key);
  if (!plain) return fail("media_corrupt", "mediaretry payload does not decrypt under this media key");
  wa::proto::MediaRetryNotification m;
  if (!m.ParseFromArray(plain->data(), static_cast<int>(plain->size()))) {
    return fail("bad_stanza", "mediaretry payload is not a MediaRetryNotification");
  }
  if (m.has_stanzaid() && m.stanzaid() != ans.msg_id) return fail("bad_stanza", "mediaretry payload names another message");
  ans.result = static_cast<int>(m.result());
  if (ans.result == wa::proto::MediaRetryNotification::SUCCESS) {
    if (m.directpath().empty()) return fail("bad_stanza", "mediaretry success without a direct path");
    ans.direct_path = m.directpath();
  }
  return ans;
}

Result<binary::Node> build_retry_notification(const std::string& msg_id, const std::string& chat, bool from_me,
                                              const std::string& participant, const std::string& direct_path,
                                              ByteView media_key) {
  wa::proto::MediaRetryNotification m;
  m.set_stanzaid(msg_id);
  if (direct_path.empty()) {
    m.set_result(wa::proto::MediaRetryNotification::NOT_FOUND);
  } else {
    m.set_directpath(direct_path);
    m.set_result(wa::proto::MediaRetryNotification::SUCCESS);
  }
  auto enc = encrypt_node(msg_id, media_key, m.SerializeAsString());
  if (!enc) return Unexpected<Error>{enc.error()};
  binary::Children kids;
  kids.push_back(rmr_node(chat, from_me, participant));
  kids.push_back(std::move(*enc));
  return binary::Node("notification", binary::Attrs{{"id", msg_id}, {"type", "mediaretry"}}, std::move(kids));
}

binary::Node build_retry_error_notification(const std::string& msg_id, const std::string& chat, bool from_me,
                                            const std::string& participant, int code) {
  binary::Children kids;
  kids.push_back(rmr_node(chat, from_me, participant));
  kids.emplace_back("error", binary::Attrs{{"code", std::to_string(code)}});
  return binary::Node("notification", binary::Attrs{{"id", msg_id}, {"type", "mediaretry"}}, std::move(kids));
}

}  // namespace wa::media
