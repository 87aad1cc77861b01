#include "wa/message/receive.hpp"

#include <charconv>

#include "wa/message/content.hpp"
#include "wa/message/id.hpp"
#include "wa/message/media.hpp"
#include "wa/proto/message.pb.h"
#include "wa/proto/signal_wire.pb.h"
#include "wa/store/store.hpp"

namespace wa::message {

namespace {

struct Route {
  binary::Jid chat;
  binary::Jid sender;
  bool from_me = false;
  bool group = false;
};

Result<Route> classify(const Self& self, const binary::Node& stanza) {
  auto from = binary::Jid::parse(stanza.attr_or("from", ""));
  if (!from) return fail("bad_stanza", "message without a valid from");
  Route r;
  if (from->is_group() || from->is_broadcast()) {
    auto p = binary::Jid::parse(stanza.attr_or("participant", ""));
    if (!p || !p->is_user()) return fail("bad_stanza", "group message without a valid participant");
    r.chat = from->to_non_ad();
    r.sender = std::move(*p);
    r.group = true;
    r.from_me = self.is_own_user(r.sender.user);
    return r;
  }
  if (from->is_newsletter()) return fail("unsupported", "newsletter messages are not end-to-end encrypted");
  if (!from->is_user()) return fail("bad_stanza", "message from a non-user jid");
  r.sender = *from;
  r.from_me = self.is_own_user(from->user);
  if (r.from_me) {
    // Our other device sent it: the chat is whom it was sent to.
    auto rec = binary::Jid::parse(stanza.attr_or("recipient", ""));
    if (stanza.has_attr("recipient") && (!rec || !rec->is_user()))
      return fail("bad_stanza", "bad recipient attribute");
    r.chat = rec ? rec->to_non_ad() : from->to_non_ad();
  } else {
    r.chat = from->to_non_ad();
  }
  return r;
}

}  // namespace

Result<Source> message_source(const Self& self, const binary::Node& stanza) {
  auto r = classify(self, stanza);
  if (!r) return Unexpected<Error>{r.error()};
  return Source{r->chat.str(), r->sender.str()};
}

namespace {

// The identity key a pkmsg announces (after its version byte).
std::optional<Bytes> pkmsg_identity(ByteView data) {
  if (data.size() < 2) return std::nullopt;
  proto::PreKeyWhisperMessage m;
  if (!m.ParseFromArray(data.data() + 1, static_cast<int>(data.size() - 1))) return std::nullopt;
  if (!m.has_identitykey()) return std::nullopt;
  const std::string& k = m.identitykey();
  return Bytes(k.begin(), k.end());
}

}  // namespace

Summary summarize(const proto::Message& m) {
  Summary s;
  // The text of a disappearing-chat or view-once message is inside its
  // envelope (media_content opens them).
  const proto::Message& c = media_content(m);
  if (c.has_conversation()) s.text = c.conversation();
  if (c.has_extendedtextmessage() && c.extendedtextmessage().has_text()) s.text = c.extendedtextmessage().text();
  s.quoted_id = quoted_id_of(m);
  if (m.has_messagecontextinfo() && m.messagecontextinfo().messagesecret().size() == 32) {
    const std::string& sec = m.messagecontextinfo().messagesecret();
    s.message_secret.assign(sec.begin(), sec.end());
  }
  proto::Message rest = m;
  rest.clear_senderkeydistributionmessage();
  rest.clear_messagecontextinfo();
  s.has_content = rest.ByteSizeLong() > 0;
  if (s.has_content) s.type = content_type(m);
  return s;
}

Summary summarize(ByteView message) {
  proto::Message m;
  if (!m.ParseFromArray(message.data(), static_cast<int>(message.size()))) return {};
  return summarize(m);
}

Result<Incoming> decrypt_message(signal::SignalSession& sig, const Self& self, const binary::Node& stanza,
                                 const IdentityPolicy& policy) {
  if (stanza.tag != "message") return fail("bad_stanza", "not a message stanza");
  auto route = classify(self, stanza);
  if (!route) return Unexpected<Error>{route.error()};
  Incoming in;
  in.id = std::string(stanza.attr_or("id", ""));
  if (!plausible_message_id(in.id)) return fail("bad_stanza", "message without a valid id");
  in.chat = route->chat.str();
  in.sender = route->sender.str();
  in.from_me = route->from_me;
  in.is_group = route->group;
  in.msg_type = std::string(stanza.attr_or("type", ""));
  {
    std::string_view t = stanza.attr_or("t", "0");
    int64_t ts = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), ts);
    if (ec == std::errc() && p == t.data() + t.size()) in.timestamp = ts;
  }
  const store::Address addr = address_of(route->sender);
  const std::string group = route->chat.str();

  auto encs = stanza.children("enc");
  if (encs.empty()) {
    if (stanza.child("plaintext")) return fail("unsupported", "plaintext message");
    return fail("no_enc", "message without <enc>");
  }
  bool seen = false;
  for (const binary::Node* enc : encs) {
    std::string_view v = enc->attr_or("v", "2");
    if (v != "2") return fail("unsupported", "enc version " + std::string(v));
    const Bytes* data = enc->bytes();
    if (!data || data->empty()) return fail("invalid_message", "empty <enc>");
    std::string_view type = enc->attr_or("type", "");
    Result<Bytes> plain = fail("unsupported", "enc type " + std::string(type));
    if (type == "pkmsg") {
      plain = sig.decrypt_pkmsg(addr, *data);
      if (!plain && plain.error().code == "identity_changed") {
        auto key = pkmsg_identity(*data);
        if (key && policy(addr) == IdentityDecision::accept) {
          WA_TRY(sig.accept_identity(addr, *key));
          in.identity_changed.push_back(addr);
          plain = sig.decrypt_pkmsg(addr, *data);
        }
      }
    } else if (type == "msg") {
      plain = sig.decrypt_msg(addr, *data);
    } else if (type == "skmsg") {
      if (!route->group) return fail("bad_stanza", "skmsg outside a group");
      plain = sig.group_decrypt(group, addr, *data);
    }
    if (!plain) return Unexpected<Error>{plain.error()};
    auto unpadded = unpad(*plain);
    secure_wipe(*plain);
    if (!unpadded) return Unexpected<Error>{unpadded.error()};
    proto::Message m;
    if (!m.ParseFromArray(unpadded->data(), static_cast<int>(unpadded->size())))
      return fail("bad_protobuf", "decrypted payload is not a Message");
    secure_wipe(*unpadded);

    if (m.has_devicesentmessage()) {
      // Only our own devices may speak for us; anyone else's DSM is ignored.
      if (!route->from_me) return fail("bad_stanza", "deviceSentMessage from another account");
      const auto& dsm = m.devicesentmessage();
      if (!route->group && dsm.has_destinationjid()) {
        auto dest = binary::Jid::parse(dsm.destinationjid());
        if (dest && (dest->is_user() || dest->is_group())) in.chat = dest->to_non_ad().str();
      }
      proto::Message inner = dsm.message();
      if (m.has_messagecontextinfo() && !inner.has_messagecontextinfo())
        *inner.mutable_messagecontextinfo() = m.messagecontextinfo();
      m = std::move(inner);
    }
    if (m.has_senderkeydistributionmessage()) {
      const auto& sk = m.senderkeydistributionmessage();
      // A key is only taken for the group the stanza belongs to: nobody can
      // plant a sender key for a group through an unrelated chat.
      if (route->group && sk.has_axolotlsenderkeydistributionmessage() &&
          (!sk.has_groupid() || sk.groupid() == group)) {
        const std::string& d = sk.axolotlsenderkeydistributionmessage();
        auto st = sig.process_sender_key_distribution(group, addr, as_bytes(d));
        if (!st && store::is_store_failure(st.error())) return Unexpected<Error>{st.error()};
      }
    }
    Summary s = summarize(m);
    if (s.has_content || !seen) {
      std::string serialized = m.SerializeAsString();
      in.text = std::move(s.text);
      if (s.has_content) in.msg_type = std::move(s.type);
      in.quoted_id = std::move(s.quoted_id);
      in.has_content = s.has_content;
      in.raw.assign(serialized.begin(), serialized.end());
      in.message_secret = std::move(s.message_secret);
      seen = seen || s.has_content;
    }
  }
  return in;
}

}  // namespace wa::message
