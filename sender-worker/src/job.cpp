#include "job.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

#include "wa/binary/codec.hpp"
#include "wa/binary/jid.hpp"
#include "wa/contract/deadlines.hpp"
#include "wa/ipc/links.hpp"
#include "wa/ipc/messages.hpp"
#include "wa/log.hpp"
#include "wa/message/edit.hpp"
#include "wa/message/msgsecret.hpp"
#include "wa/message/pipeline.hpp"
#include "wa/message/poll.hpp"
#include "wa/message/reaction.hpp"
#include "wa/message/self.hpp"
#include "wa/proto/message.pb.h"

namespace wa::sender {

namespace msg = ipc::msg;

namespace {

// Node bytes we accept back from the worker (the link caps messages at 4 MB).
constexpr size_t kMaxNodeBytes = 4u << 20;

Result<binary::Node> node_query(const QueryFn& query, json what, const binary::Node& node, const char* answer_field) {
  auto bytes = binary::encode(node);
  if (!bytes) return Unexpected<Error>{bytes.error()};
  what["node"] = json::binary(std::move(*bytes));
  auto r = query(what);
  if (!r) return Unexpected<Error>{r.error()};
  const json* field = r->is_object() && r->contains(answer_field) ? &(*r)[answer_field] : nullptr;
  if (!field || !field->is_binary() || field->get_binary().size() > kMaxNodeBytes)
    return fail("bad_message", std::string("worker answer without a node in '") + answer_field + "'");
  const auto& bin = field->get_binary();
  return binary::decode(ByteView(bin.data(), bin.size()));
}

}  // namespace

// A reply: contextInfo{stanzaId, participant[, quotedMessage]} as Baileys
// builds it. The participant is the quoted message's author: given by the
// caller, else us when the id is in our sent-message cache (whose plaintext
// also becomes quotedMessage, so receivers can show the quote), else the
// peer of a 1:1 chat. In a group with an unknown author it stays unset.
Status add_quote(store::Store& st, const binary::Jid& chat, const json& payload, proto::ContextInfo& ci) {
  const json& q = payload["quoted_id"];
  if (!q.is_string() || q.get_ref<const std::string&>().empty() || q.get_ref<const std::string&>().size() > 128)
    return fail("bad_request", "invalid quoted_id");
  const std::string& id = q.get_ref<const std::string&>();
  ci.set_stanzaid(id);
  if (payload.contains("quoted_sender")) {
    const json& s = payload["quoted_sender"];
    if (!s.is_string()) return fail("bad_request", "invalid quoted_sender");
    auto j = binary::Jid::parse(s.get_ref<const std::string&>());
    if (!j || !j->is_user()) return fail("bad_request", "invalid quoted_sender");
    ci.set_participant(j->to_non_ad().str());
    return {};
  }
  auto sent = message::find_sent(st, id, chat);
  if (!sent) return Unexpected<Error>{sent.error()};
  if (*sent) {
    auto self = message::load_self(st);
    if (!self) return Unexpected<Error>{self.error()};
    ci.set_participant(self->jid.to_non_ad().str());
    proto::Message quoted;
    if (quoted.ParseFromArray((*sent)->plaintext.data(), static_cast<int>((*sent)->plaintext.size()))) {
      // One level of quoting is what a receiver shows; drop nested quotes.
      if (quoted.has_extendedtextmessage()) quoted.mutable_extendedtextmessage()->clear_contextinfo();
      *ci.mutable_quotedmessage() = std::move(quoted);
    }
    secure_wipe((*sent)->plaintext);
    return {};
  }
  if (chat.is_user()) ci.set_participant(chat.to_non_ad().str());
  return {};
}

message::Transport query_transport(const QueryFn& query) {
  message::Transport net;
  // The server answers an iq within seconds or not at all; the budget of a
  // send counts on this (wa/contract/deadlines.hpp).
  net.iq = [query](const binary::Node& iq) {
    return node_query(query, {{"what", "iq"}, {"timeout_ms", contract::kSenderIqTimeoutMs}}, iq, "node");
  };
  net.relay = [query](const binary::Node& stanza, const std::string& id) {
    return node_query(query, {{"what", "relay"}, {"id", id}}, stanza, "ack");
  };
  return net;
}

json failed_done(uint64_t job, const Error& e) {
  return json{{msg::kOp, msg::kDone}, {"job", job}, {"ok", false}, {"code", e.code}, {"message", e.message}};
}

Result<binary::Jid> job_recipient(const std::string& conversation, const json& payload) {
  std::string to_text = conversation;
  if (payload.contains("to") && payload["to"].is_string()) to_text = payload["to"].get<std::string>();
  auto to = binary::Jid::parse(to_text);
  if (!to) return fail("bad_request", "invalid recipient jid");
  if (to->to_non_ad().str() != conversation && to_text != conversation)
    return fail("bad_request", "job is for another conversation");
  return *to;
}

json send_built(store::Store& st, signal::SignalSession& sig, const QueryFn& query, uint64_t job,
                const binary::Jid& to, Bytes serialized, json extra, Relay how) {
  message::Transport net = query_transport(query);
  // The id of a message that left: named in an unknown_outcome failure.
  std::string relayed_id;
  net.relay = [&relayed_id, relay = net.relay](const binary::Node& stanza, const std::string& id) {
    relayed_id = id;
    return relay(stanza, id);
  };
  // A privacy token due to the contact is the connection worker's to issue
  // once this send is answered: the send does not wait for that iq.
  std::string token_due;
  net.issue_token = [&token_due](const binary::Jid& peer) { token_due = peer.to_non_ad().str(); };
  std::optional<ipc::link::RelayOnAck> handed;
  if (how == Relay::with_done)
    net.hand_off = [&handed](const binary::Node& stanza, const message::AfterAck& after) -> Status {
      auto bytes = binary::encode(stanza);
      if (!bytes) return Unexpected<Error>{bytes.error()};
      handed = ipc::link::RelayOnAck{json::binary_t(std::move(*bytes)), after};
      return {};
    };
  auto r = message::send_message(st, sig, net, to, serialized);
  secure_wipe(serialized);
  json done;
  if (!r) {
    // An unpaired profile cannot be connected: the code callers already handle.
    if (r.error().code == "not_paired") return failed_done(job, Error{"not_connected", "the account is not paired"});
    WA_WARN("job %llu failed: %s", static_cast<unsigned long long>(job), r.error().code.c_str());
    done = failed_done(job, r.error());
    if (r.error().code == "unknown_outcome" && !relayed_id.empty()) done["id"] = relayed_id;
  } else {
    json result{{"id", r->id}, {"devices", r->devices}};
    if (!r->identity_changed.empty()) {
      json changed = json::array();
      for (const auto& j : r->identity_changed) changed.push_back(j.str());
      result["identity_changed"] = std::move(changed);
    }
    if (extra.is_object())
      for (auto it = extra.begin(); it != extra.end(); ++it) result[it.key()] = it.value();
    done = json{{msg::kOp, msg::kDone}, {"job", job}, {"ok", true}, {"result", std::move(result)}};
    if (handed) done[msg::kRelay] = ipc::link::to_json(*handed);
  }
  if (!token_due.empty()) done[msg::kIssueToken] = token_due;
  return done;
}

json run_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query, const std::string& conversation,
             uint64_t job, const json& payload) {
  if (!payload.is_object()) return failed_done(job, Error{"bad_request", "job payload is not an object"});
  auto to = job_recipient(conversation, payload);
  if (!to) return failed_done(job, to.error());
  if (!payload.contains("text") || !payload["text"].is_string())
    return failed_done(job, Error{"bad_request", "job without text"});

  // Baileys sends typed text as extendedTextMessage; receivers read both.
  proto::Message m;
  m.mutable_extendedtextmessage()->set_text(payload["text"].get<std::string>());
  // A secret, so that an edit of this message can be sealed to its readers
  // (docs/PROTOCOL.md §12.4); kept with the message by the send pipeline.
  {
    Bytes secret = message::new_message_secret();
    m.mutable_messagecontextinfo()->set_messagesecret(std::string(as_chars(secret)));
  }
  if (payload.contains("quoted_id")) {
    if (auto q = add_quote(st, *to, payload, *m.mutable_extendedtextmessage()->mutable_contextinfo()); !q)
      return failed_done(job, q.error());
  }
  std::string serialized = m.SerializeAsString();
  Bytes bytes(serialized.begin(), serialized.end());
  secure_wipe(serialized.data(), serialized.size());
  return send_built(st, sig, query, job, *to, std::move(bytes), nullptr);
}

Result<message::TargetKey> job_target(store::Store& st, const binary::Jid& to, const json& payload,
                                      std::string_view what) {
  message::TargetKey target;
  target.chat = to.to_non_ad().str();
  target.id = payload.value("id", "");
  auto sent = message::find_sent(st, target.id, to);
  if (!sent) return Unexpected<Error>{sent.error()};
  auto self = message::load_self(st);
  if (!self) return Unexpected<Error>{self.error()};
  std::string sender = payload.value("sender", "");
  if (!sender.empty()) {
    auto s = binary::Jid::parse(sender);
    if (!s || !s->is_user()) return fail("bad_request", "invalid sender");
    target.from_me = self->is_own_user(s->user);
    if (!target.from_me && to.is_group()) target.participant = s->to_non_ad().str();
  } else {
    target.from_me = sent->has_value();
    if (!target.from_me && to.is_group())
      return fail("bad_request", std::string(what) + " someone else's group message needs its `sender`");
  }
  return target;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json run_built_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query,
                   const std::string& conversation, uint64_t job, const json& payload, const BuildFn& build) {
  if (!payload.is_object()) return failed_done(job, Error{"bad_request", "job payload is not an object"});
  auto to = job_recipient(conversation, payload);
  if (!to) return failed_done(job, to.error());
  auto bytes = build(*to);
  if (!bytes) return failed_done(job, bytes.error());
  return send_built(st, sig, query, job, *to, std::move(*bytes), nullptr);
}

json run_react_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query, const std::string& conversation,
                   uint64_t job, const json& payload) {
  return run_built_job(st, sig, query, conversation, job, payload, [&](const binary::Jid& to) -> Result<Bytes> {
    auto target = job_target(st, to, payload, "a reaction to");
    if (!target) return Unexpected<Error>{target.error()};
    return message::build_reaction(*target, payload.value("emoji", ""), now_ms());
  });
}

namespace {

Result<std::vector<std::string>> string_list(const json& payload, const char* key) {
  auto it = payload.find(key);
  if (it == payload.end() || !it->is_array()) return fail("bad_request", std::string("job without ") + key);
  std::vector<std::string> out;
  for (const auto& e : *it) {
    if (!e.is_string()) return fail("bad_request", std::string(key) + " must be strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

json run_poll_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query, const std::string& conversation,
                  uint64_t job, const json& payload) {
  // The pipeline keeps the poll's secret and options in its encrypt commit.
  return run_built_job(st, sig, query, conversation, job, payload, [&](const binary::Jid&) -> Result<Bytes> {
    message::PollSpec spec;
    spec.name = payload.value("name", "");
    auto options = string_list(payload, "options");
    if (!options) return Unexpected<Error>{options.error()};
    spec.options = std::move(*options);
    spec.selectable = payload.value("multiple", false) ? 0u : 1u;
    Bytes secret = message::new_message_secret();
    auto bytes = message::build_poll(spec, secret);
    secure_wipe(secret);
    return bytes;
  });
}

json run_vote_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query, const std::string& conversation,
                  uint64_t job, const json& payload) {
  if (!payload.is_object()) return failed_done(job, Error{"bad_request", "job payload is not an object"});
  auto to = job_recipient(conversation, payload);
  if (!to) return failed_done(job, to.error());
  const std::string id = payload.value("id", "");
  auto selected = string_list(payload, "options");
  if (!selected) return failed_done(job, selected.error());
  auto self = message::load_self(st);
  if (!self) return failed_done(job, self.error());
  // The poll as we stored it (ours, or received): its secret and options.
  auto poll = st.poll_get(id, to->to_non_ad().str());
  if (poll && !*poll) poll = st.poll_get(id, "");
  if (!poll) return failed_done(job, poll.error());
  if (!*poll) return failed_done(job, Error{"unknown_poll", "no poll with this id is known"});
  auto secret = st.secret_get(id, (*poll)->chat);
  if (!secret) return failed_done(job, secret.error());
  if (!*secret) return failed_done(job, Error{"unknown_poll", "the poll's secret is not known"});
  for (const auto& name : *selected) {
    if (std::find((*poll)->options.begin(), (*poll)->options.end(), name) == (*poll)->options.end())
      return failed_done(job, Error{"bad_request", "not an option of this poll: " + name});
  }
  if ((*poll)->selectable != 0 && selected->size() > (*poll)->selectable)
    return failed_done(job, Error{"bad_request", "this poll takes at most " + std::to_string((*poll)->selectable) +
                                                     " option(s)"});
  auto creator = binary::Jid::parse((*poll)->sender);
  if (!creator) return failed_done(job, Error{"db_corrupt", "stored poll author is not a JID"});
  message::TargetKey key;
  key.chat = to->to_non_ad().str();
  key.id = id;
  key.from_me = self->is_own_user(creator->user);
  if (!key.from_me && to->is_group()) key.participant = creator->to_non_ad().str();
  // We vote as ourselves in the poll author's namespace: our LID unless the
  // poll came from a phone number (whatsmeow does the same).
  const binary::Jid voter = self->user_for(*creator);
  auto bytes = message::build_poll_vote(key, (*secret)->secret, creator->to_non_ad().str(), voter.str(), *selected,
                                        now_ms());
  if (!bytes) return failed_done(job, bytes.error());
  json done = send_built(st, sig, query, job, *to, std::move(*bytes), nullptr, Relay::wait);
  if (done.value("ok", false)) {
    // Our own vote counts in poll_results like anyone's.
    auto put = st.poll_vote_put(store::PollVoteRecord{id, (*poll)->chat, voter.str(), *selected, now_ms()});
    if (!put) WA_WARN("vote sent but not recorded: %s", put.error().code.c_str());
  }
  return done;
}

json run_edit_job(store::Store& st, signal::SignalSession& sig, const QueryFn& query, const std::string& conversation,
                  uint64_t job, const json& payload) {
  return run_built_job(st, sig, query, conversation, job, payload, [&](const binary::Jid& to) -> Result<Bytes> {
    message::TargetKey target;
    target.id = payload.value("id", "");
    target.from_me = true;
    // Only our own messages can be edited, and only for a while: the
    // sent-message cache knows both (whatsmeow checks the same window).
    auto sent = message::find_sent(st, target.id, to);
    if (!sent) return Unexpected<Error>{sent.error()};
    if (!*sent) return fail("not_editable", "not a message we sent (or sent too long ago)");
    const int64_t now = now_ms();
    if (now / 1000 - (*sent)->ts > message::kEditWindowS)
      return fail("edit_window_passed", "messages can be edited for 20 minutes after sending");
    secure_wipe((*sent)->plaintext);
    target.chat = (*sent)->chat;
    return message::build_edit(target, payload.value("text", ""), now);
  });
}

}  // namespace wa::sender
