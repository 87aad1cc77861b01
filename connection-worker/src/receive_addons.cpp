// The receive path's part of message secrets, polls and edits (addons.hpp;
// docs/CONTROL.md events `poll`, `poll_vote`, `edited`).
#include "addons.hpp"
#include "wa/binary/jid.hpp"
#include "wa/log.hpp"
#include "wa/message/edit.hpp"
#include "wa/message/lid.hpp"
#include "wa/message/poll.hpp"
#include "wa/proto/message.pb.h"

namespace wa::connection {

using json = nlohmann::json;

namespace {

// A user's names for the add-on key: as given, then its other namespace
// (phone number <-> LID) when the store knows it. Which one the other side
// used is not on the wire, so both are tried.
Result<std::vector<std::string>> spellings(store::Store& st, const std::string& user) {
  std::vector<std::string> out{user};
  auto j = binary::Jid::parse(user);
  if (!j || !(j->is_pn() || j->is_lid())) return out;
  auto alt = message::alternate_user(st, j->to_non_ad());
  if (!alt) return Unexpected<Error>{alt.error()};
  if (*alt) out.push_back((*alt)->to_non_ad().str());
  return out;
}

std::string non_ad(const std::string& jid) {
  auto j = binary::Jid::parse(jid);
  return j ? j->to_non_ad().str() : jid;
}

// A stored poll or secret by (id, chat), else by id alone: the chat may be
// named by phone number in one place and by LID in the other.
template <typename Get>
auto by_id(Get get, const std::string& id, const std::string& chat) -> decltype(get(id, chat)) {
  auto r = get(id, chat);
  if (r && !*r) return get(id, "");
  return r;
}

Status on_vote(store::Store& st, const message::Incoming& in, const message::PollVote& vote, const std::string& author,
               json& ev) {
  ev["type"] = "poll_vote";
  ev["msg_type"] = "poll_vote";
  ev.erase("text");
  ev["poll_id"] = vote.poll.id;
  ev["voter"] = author;
  auto poll = by_id([&](const std::string& i, const std::string& c) { return st.poll_get(i, c); }, vote.poll.id, in.chat);
  if (!poll) return Unexpected<Error>{poll.error()};
  std::optional<store::MessageSecret> secret;
  if (*poll) {
    auto s = st.secret_get(vote.poll.id, (*poll)->chat);
    if (!s) return Unexpected<Error>{s.error()};
    secret = std::move(*s);
  }
  if (!*poll || !secret) {
    ev["error"] = "unknown_poll";
    return {};
  }
  ev["poll_sender"] = (*poll)->sender;
  auto creators = spellings(st, (*poll)->sender);
  if (!creators) return Unexpected<Error>{creators.error()};
  auto voters = spellings(st, author);
  if (!voters) return Unexpected<Error>{voters.error()};
  auto names = message::open_poll_vote(vote, secret->secret, *creators, *voters, (*poll)->options);
  if (!names) {
    WA_WARN("vote %s on poll %s does not open: %s", in.id.c_str(), vote.poll.id.c_str(), names.error().code.c_str());
    ev["error"] = names.error().code == "auth_failed" ? "decrypt_failed" : names.error().code;
    return {};
  }
  const int64_t ts_ms = vote.timestamp_ms ? vote.timestamp_ms : in.timestamp * 1000;
  auto current = st.poll_vote_put(store::PollVoteRecord{vote.poll.id, (*poll)->chat, author, *names, ts_ms});
  if (!current) return Unexpected<Error>{current.error()};
  ev["options"] = *names;
  ev["vote_timestamp"] = ts_ms;
  // An older vote arriving late does not replace a newer one.
  ev["current"] = *current;
  return {};
}

void edited_fields(const message::Edit& e, const message::Incoming& in, const std::string& author, json& ev) {
  ev["type"] = "edited";
  ev["msg_type"] = "edit";
  ev["target_id"] = e.target.id;
  // Only the author edits a message: the editor wrote the original.
  ev["target_sender"] = author;
  ev["text"] = e.text;
  ev["edit_timestamp"] = e.timestamp_ms ? e.timestamp_ms : in.timestamp * 1000;
  ev["encrypted"] = e.encrypted;
}

}  // namespace

Status keep_message_secret(store::Store& st, const message::Incoming& in) {
  if (in.message_secret.size() != message::kMessageSecretBytes) return {};
  return st.secret_put(store::MessageSecret{in.id, in.chat, non_ad(in.sender), in.message_secret, in.timestamp});
}

Result<bool> receive_addons(store::Store& st, const message::Incoming& in, const proto::Message& m, json& ev) {
  const std::string author = non_ad(in.sender);
  if (auto poll = message::find_poll(m)) {
    WA_TRY(st.poll_put(store::PollRecord{in.id, in.chat, author, poll->spec.name, poll->spec.options,
                                         poll->spec.selectable, in.timestamp}));
    ev["type"] = "poll";
    ev["msg_type"] = "poll";
    ev.erase("text");
    ev["name"] = poll->spec.name;
    ev["options"] = poll->spec.options;
    ev["selectable"] = poll->spec.selectable;
    return true;
  }
  if (auto vote = message::find_poll_vote(m)) {
    WA_TRY(on_vote(st, in, *vote, author, ev));
    return true;
  }
  if (auto e = message::find_edit(m)) {
    edited_fields(*e, in, author, ev);
    return true;
  }
  if (auto se = message::find_secret_edit(m)) {
    auto secret = by_id([&](const std::string& i, const std::string& c) { return st.secret_get(i, c); }, se->target.id,
                        in.chat);
    if (!secret) return Unexpected<Error>{secret.error()};
    message::Edit fallback;
    fallback.target = se->target;
    fallback.encrypted = true;
    if (!*secret) {
      edited_fields(fallback, in, author, ev);
      ev.erase("text");
      ev["error"] = "unknown_message";
      return true;
    }
    auto editors = spellings(st, author);
    if (!editors) return Unexpected<Error>{editors.error()};
    auto e = message::open_secret_edit(*se, (*secret)->secret, *editors);
    if (!e) {
      WA_WARN("encrypted edit %s of %s does not open: %s", in.id.c_str(), se->target.id.c_str(), e.error().code.c_str());
      edited_fields(fallback, in, author, ev);
      ev.erase("text");
      ev["error"] = e.error().code == "auth_failed" ? "decrypt_failed" : e.error().code;
      return true;
    }
    edited_fields(*e, in, author, ev);
    return true;
  }
  return false;
}

}  // namespace wa::connection
