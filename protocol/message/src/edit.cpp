#include "wa/message/edit.hpp"

#include "wa/message/msgsecret.hpp"
#include "wa/proto/message.pb.h"

namespace wa::message {

namespace {

using PM = proto::Message::ProtocolMessage;

void set_key(proto::MessageKey* key, const TargetKey& t) {
  key->set_remotejid(t.chat);
  key->set_fromme(t.from_me);
  key->set_id(t.id);
  if (!t.participant.empty()) key->set_participant(t.participant);
}

TargetKey key_of(const proto::MessageKey& k) { return TargetKey{k.remotejid(), k.fromme(), k.id(), k.participant()}; }

// The text of the replacement content: a text message or a media caption.
std::string text_of(const proto::Message& m) {
  if (m.has_conversation()) return m.conversation();
  if (m.has_extendedtextmessage()) return m.extendedtextmessage().text();
  if (m.has_imagemessage()) return m.imagemessage().caption();
  if (m.has_videomessage()) return m.videomessage().caption();
  if (m.has_documentmessage()) return m.documentmessage().caption();
  return "";
}

// protocolMessage MESSAGE_EDIT at the top or inside the editedMessage wrapper.
const PM* edit_protocol(const proto::Message& m) {
  const PM* pm = nullptr;
  if (m.has_protocolmessage()) pm = &m.protocolmessage();
  else if (m.has_editedmessage() && m.editedmessage().message().has_protocolmessage())
    pm = &m.editedmessage().message().protocolmessage();
  if (!pm || pm->type() != PM::MESSAGE_EDIT || !pm->has_key() || pm->key().id().empty()) return nullptr;
  return pm;
}

}  // namespace

Result<Bytes> build_edit(const TargetKey& target, std::string_view new_text, int64_t now_ms) {
  if (target.id.empty() || target.chat.empty()) return fail("bad_request", "an edit needs the message's chat and id");
  if (new_text.empty()) return fail("bad_request", "an edit needs the new text");
  proto::Message m;
  auto* pm = m.mutable_editedmessage()->mutable_message()->mutable_protocolmessage();
  set_key(pm->mutable_key(), target);
  pm->set_type(PM::MESSAGE_EDIT);
  pm->mutable_editedmessage()->set_conversation(std::string(new_text));
  pm->set_timestampms(now_ms);
  std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

std::optional<Edit> find_edit(const proto::Message& m) {
  const PM* pm = edit_protocol(m);
  if (!pm) return std::nullopt;
  Edit e;
  e.target = key_of(pm->key());
  e.text = text_of(pm->editedmessage());
  e.timestamp_ms = pm->timestampms();
  return e;
}

std::optional<SecretEdit> find_secret_edit(const proto::Message& m) {
  if (!m.has_secretencryptedmessage()) return std::nullopt;
  const auto& s = m.secretencryptedmessage();
  if (s.secretenctype() != proto::Message::SecretEncryptedMessage::MESSAGE_EDIT || !s.has_targetmessagekey() ||
      s.targetmessagekey().id().empty())
    return std::nullopt;
  return SecretEdit{key_of(s.targetmessagekey()), Bytes(s.encpayload().begin(), s.encpayload().end()),
                    Bytes(s.enciv().begin(), s.enciv().end())};
}

Result<Edit> open_secret_edit(const SecretEdit& e, ByteView secret, const std::vector<std::string>& editors) {
  std::optional<Bytes> plain;
  for (const auto& ed : editors) {
    auto r = open_addon(secret, AddonParty{e.target.id, ed, ed}, kUseMessageEdit, e.payload, e.iv);
    if (r) {
      plain = std::move(*r);
      break;
    }
    if (r.error().code != "auth_failed") return Unexpected<Error>{r.error()};
  }
  if (!plain) return fail("auth_failed", "the edit does not open with the message's secret");
  proto::Message inner;
  if (!inner.ParseFromArray(plain->data(), static_cast<int>(plain->size())))
    return fail("bad_protobuf", "the sealed edit is not a Message");
  secure_wipe(*plain);
  Edit out;
  if (auto classic = find_edit(inner)) {
    out = std::move(*classic);
  } else if (inner.has_protocolmessage() && inner.protocolmessage().has_editedmessage()) {
    out.text = text_of(inner.protocolmessage().editedmessage());
    out.timestamp_ms = inner.protocolmessage().timestampms();
  } else {
    out.text = text_of(inner);
  }
  out.target = e.target;  // the outer key is the one the receiver checks
  out.encrypted = true;
  return out;
}

Result<Bytes> build_secret_edit(const TargetKey& target, ByteView secret, std::string_view editor,
                                std::string_view new_text, int64_t now_ms, ByteView iv) {
  if (target.id.empty()) return fail("bad_request", "an edit needs the message's id");
  proto::Message inner;
  auto* pm = inner.mutable_protocolmessage();
  set_key(pm->mutable_key(), target);
  pm->set_type(PM::MESSAGE_EDIT);
  pm->mutable_editedmessage()->set_conversation(std::string(new_text));
  pm->set_timestampms(now_ms);
  std::string plain = inner.SerializeAsString();
  auto sealed = seal_addon(secret, AddonParty{target.id, editor, editor}, kUseMessageEdit, as_bytes(plain), iv);
  if (!sealed) return Unexpected<Error>{sealed.error()};
  proto::Message m;
  auto* s = m.mutable_secretencryptedmessage();
  set_key(s->mutable_targetmessagekey(), target);
  s->set_encpayload(std::string(as_chars(sealed->payload)));
  s->set_enciv(std::string(as_chars(sealed->iv)));
  s->set_secretenctype(proto::Message::SecretEncryptedMessage::MESSAGE_EDIT);
  std::string out = m.SerializeAsString();
  return Bytes(out.begin(), out.end());
}

}  // namespace wa::message
