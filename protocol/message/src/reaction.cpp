#include "wa/message/reaction.hpp"

#include "wa/proto/message.pb.h"

namespace wa::message {

Result<Bytes> build_reaction(const TargetKey& target, std::string_view emoji, int64_t now_ms) {
  if (target.id.empty() || target.chat.empty()) return fail("bad_request", "a reaction needs the message's chat and id");
  if (emoji.size() > kMaxReactionBytes) return fail("bad_request", "the reaction is longer than 64 bytes");
  proto::Message m;
  auto* r = m.mutable_reactionmessage();
  auto* key = r->mutable_key();
  key->set_remotejid(target.chat);
  key->set_fromme(target.from_me);
  key->set_id(target.id);
  if (!target.participant.empty()) key->set_participant(target.participant);
  r->set_text(std::string(emoji));
  r->set_sendertimestampms(now_ms);
  std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

std::optional<Reaction> find_reaction(const proto::Message& m) {
  if (!m.has_reactionmessage() || !m.reactionmessage().has_key()) return std::nullopt;
  const auto& r = m.reactionmessage();
  Reaction out;
  out.target.chat = r.key().remotejid();
  out.target.from_me = r.key().fromme();
  out.target.id = r.key().id();
  out.target.participant = r.key().participant();
  if (out.target.id.empty()) return std::nullopt;
  out.emoji = r.text().size() <= kMaxReactionBytes ? r.text() : r.text().substr(0, kMaxReactionBytes);
  out.timestamp_ms = r.sendertimestampms();
  return out;
}

std::optional<Reaction> find_reaction(ByteView serialized) {
  proto::Message m;
  if (!m.ParseFromArray(serialized.data(), static_cast<int>(serialized.size()))) return std::nullopt;
  return find_reaction(m);
}

}  // namespace wa::message
