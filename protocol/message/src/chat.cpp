#include "wa/message/chat.hpp"

namespace wa::message {

Result<binary::Node> build_read_receipt(const binary::Jid& chat, const std::optional<binary::Jid>& sender,
                                        std::span<const std::string> ids, int64_t now) {
  if (ids.empty()) return fail("bad_request", "a read receipt needs at least one message id");
  if (ids.size() > kMaxReadIds) return fail("bad_request", "too many message ids for one read receipt");
  for (const auto& id : ids)
    if (id.empty()) return fail("bad_request", "empty message id");
  if (!chat.is_group() && !chat.is_user()) return fail("bad_request", "a read receipt goes to a user or a group");
  if (chat.is_group() && !sender) return fail("bad_request", "a read receipt in a group needs the sender");
  binary::Attrs a{{"id", ids[0]}, {"to", chat.to_non_ad().str()}};
  // The author of group messages: the server tells every device of that user.
  if (chat.is_group()) a.emplace_back("participant", sender->to_non_ad().str());
  a.emplace_back("type", "read");
  a.emplace_back("t", std::to_string(now));
  binary::Node r("receipt", std::move(a));
  if (ids.size() > 1) {
    binary::Children items;
    for (size_t i = 1; i < ids.size(); ++i) items.emplace_back("item", binary::Attrs{{"id", ids[i]}});
    r.content = binary::Children{binary::Node("list", {}, std::move(items))};
  }
  return r;
}

binary::Node build_chatstate(const binary::Jid& own, const binary::Jid& chat, ChatState state) {
  binary::Children c;
  c.emplace_back(state == ChatState::composing ? "composing" : "paused");
  return binary::Node("chatstate", binary::Attrs{{"from", own.to_non_ad().str()}, {"to", chat.to_non_ad().str()}},
                      std::move(c));
}

Result<IncomingChatState> parse_chatstate(const binary::Node& stanza) {
  if (stanza.tag != "chatstate") return fail("bad_stanza", "not a chatstate");
  auto from = binary::Jid::parse(stanza.attr_or("from", ""));
  if (!from || (!from->is_user() && !from->is_group())) return fail("bad_stanza", "chatstate without a valid from");
  IncomingChatState out;
  out.chat = from->to_non_ad().str();
  if (from->is_group()) {
    auto p = binary::Jid::parse(stanza.attr_or("participant", ""));
    if (!p || !p->is_user()) return fail("bad_stanza", "group chatstate without a valid participant");
    out.sender = p->to_non_ad().str();
  } else {
    out.sender = out.chat;
  }
  const auto& kids = stanza.children();
  if (kids.empty()) return fail("bad_stanza", "chatstate without a state");
  const binary::Node& s = kids[0];
  if (s.tag == "composing") {
    out.state = s.attr_or("media", "") == "audio" ? "recording" : "composing";
  } else if (s.tag == "paused") {
    out.state = "paused";
  } else {
    return fail("bad_stanza", "unknown chat state");
  }
  return out;
}

}  // namespace wa::message
