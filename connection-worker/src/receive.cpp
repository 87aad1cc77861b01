#include "receive.hpp"

#include "addons.hpp"

#include <utility>

#include "wa/binary/jid.hpp"
#include "wa/bytes.hpp"
#include "wa/log.hpp"
#include "wa/message/content.hpp"
#include "wa/message/lid.hpp"
#include "wa/message/media.hpp"
#include "wa/message/reaction.hpp"
#include "wa/message/receipt.hpp"
#include "wa/message/receive.hpp"
#include "wa/message/self.hpp"
#include "wa/proto/message.pb.h"
#include "wa/signal/crypto_provider.hpp"
#include "wa/store/event_log.hpp"
#include "wa/store/sqlite_store.hpp"
#include "wa/store/store.hpp"
#include "wa/store/open.hpp"

namespace wa::connection {

using json = nlohmann::json;

Result<std::unique_ptr<Receiver>> Receiver::open(uv_loop_t* loop, const std::string& store_path, Hooks hooks) {
  auto st = store::open(store_path);
  if (!st) return Unexpected<Error>{st.error()};
  auto sig = signal::SignalSession::create(**st);
  if (!sig) return Unexpected<Error>{sig.error()};
  return std::unique_ptr<Receiver>(new Receiver(loop, std::move(*st), std::move(*sig), std::move(hooks)));
}

Receiver::Receiver(uv_loop_t* loop, std::unique_ptr<store::Store> st, std::unique_ptr<signal::SignalSession> sig,
                   Hooks hooks)
    : store_(std::move(st)), sig_(std::move(sig)), hooks_(std::move(hooks)), flush_timer_(loop) {}

void Receiver::on_message(const binary::Node& stanza) {
  pending_.push_back(stanza);
  if (pending_.size() >= kMaxBatch) {
    flush();
  } else if (!flush_timer_.active()) {
    // Due on the loop's next turn: every stanza of the current read (one
    // socket read can carry hundreds) joins this batch first.
    flush_timer_.start(0, [this] { flush(); });
  }
}

void Receiver::ack(const binary::Node& stanza) {
  auto self = message::load_self(*store_);
  auto a = message::build_ack(stanza, self ? &*self : nullptr);
  if (a) (void)hooks_.send(*a);
}

void Receiver::flush() {
  flush_timer_.stop();
  if (pending_.empty()) return;
  std::vector<binary::Node> batch = std::exchange(pending_, {});
  auto self = message::load_self(*store_);
  if (!self) {
    if (store::is_store_failure(self.error())) return halt(self.error());
    WA_WARN("message before pairing: %s", self.error().code.c_str());
    return;
  }
  std::vector<Outcome> outs(batch.size());
  // One durable commit for the batch. Each message is a savepoint of its
  // own: a decrypt failure undoes that message's ratchet step and nothing
  // else. A store failure is nobody's message's: it ends the transaction.
  // Flushed inside the commit: if the flush fails, nothing of the batch may
  // count as stored (see halt below and store.hpp, full_in_commit).
  auto tx = store_->transaction(store::Durability::full_in_commit, [&]() -> Status {
    signal::CryptoBatch crypto;  // the batch's decrypts share HMAC contexts, freed at its end
    for (size_t i = 0; i < batch.size(); ++i) {
      // Who is who first, and outside the message's savepoint: a message
      // that fails to decrypt still teaches the mapping its re-send needs
      // (learning one moves the contact's sessions to its LID name).
      if (auto m = message::learn_mappings(*store_, batch[i]); !m && store::is_store_failure(m.error())) return m;
      outs[i].status = store_->savepoint([&] { return decrypt_and_store(batch[i], *self, outs[i]); });
      if (!outs[i].status && store::is_store_failure(outs[i].status.error())) return outs[i].status;
    }
    return {};
  });
  // Not committed (the disk is full, the write lock stayed busy, the commit
  // failed, a step could not be undone): nothing of the batch is stored, so
  // nothing of it may be answered - not even a retry receipt, which the
  // server takes as an answer too.
  if (!tx) return halt(tx.error());
  if (store_hooks_.ok) store_hooks_.ok();
  auto finish_all = [&] {
    for (size_t i = 0; i < batch.size(); ++i) finish(batch[i], *self, outs[i]);
  };
  if (hooks_.batch_events)
    hooks_.batch_events(finish_all);
  else
    finish_all();
  if (store_error_) halt(*std::exchange(store_error_, std::nullopt));
}

void Receiver::halt(const Error& e) {
  flush_timer_.stop();
  const size_t dropped = std::exchange(pending_, {}).size();
  WA_WARN("the store failed on the receive path: %s (%s) - no receipts, receiving stops (%zu queued dropped)",
          e.code.c_str(), e.message.c_str(), dropped);
  if (store_hooks_.failed) store_hooks_.failed(e);
}

// Both identities where known (docs/CONTROL.md, "message"): `chat` and
// `sender` as the stanza named them, plus `chat_pn` / `sender_pn` when those
// are LIDs (or `chat_lid` / `sender_lid` when they are phone numbers), so a
// consumer keyed by phone number keeps working when a contact migrates.
Status add_alternates(store::Store& st, json& ev) {
  for (const char* key : {"chat", "sender", "jid"}) {
    auto it = ev.find(key);
    if (it == ev.end() || !it->is_string()) continue;
    auto j = binary::Jid::parse(it->get_ref<const std::string&>());
    if (!j || !(j->is_pn() || j->is_lid())) continue;
    auto alt = message::alternate_user(st, j->to_non_ad());
    if (!alt) return Unexpected<Error>{alt.error()};
    if (!*alt) continue;
    binary::Jid other = std::move(**alt);
    other.device = j->device;  // the same device in both namespaces
    ev[std::string(key) + (other.is_pn() ? "_pn" : "_lid")] = other.str();
  }
  return {};
}

namespace {

// What a media message event says of its file (docs/CONTROL.md, "message").
void add_media_fields(const message::MediaFields& m, json& ev) {
  ev["msg_type"] = m.kind;
  ev["mimetype"] = m.mimetype;
  ev["size"] = m.size;
  ev["sha256"] = to_hex(m.file_sha256);
  if (!m.caption.empty()) ev["caption"] = m.caption;
  if (!m.filename.empty()) ev["filename"] = m.filename;
  if (m.width) ev["width"] = m.width;
  if (m.height) ev["height"] = m.height;
  if (m.seconds) ev["seconds"] = m.seconds;
  if (m.pages) ev["pages"] = m.pages;
  if (m.animated) ev["animated"] = true;
  if (m.gif) ev["gif"] = true;
  if (m.view_once) ev["view_once"] = true;
  if (!m.quoted_id.empty()) ev["quoted_id"] = m.quoted_id;
}

// Who wrote the message an add-on (reaction, revoke) refers to. The key is
// written from the add-on sender's side: fromMe means that sender wrote the
// target; in a group the author is otherwise named; in a 1:1 chat without
// fromMe, the other party did - seen from here, the chat when we sent the
// add-on from another device of ours, else us (named in the chat's namespace).
std::string target_author(const message::TargetKey& t, const message::Incoming& in, const message::Self& self) {
  if (t.from_me) {
    auto s = binary::Jid::parse(in.sender);
    return s ? s->to_non_ad().str() : in.sender;
  }
  if (!t.participant.empty()) return t.participant;
  const bool lid_chat = in.chat.ends_with("@lid");
  return in.from_me ? in.chat : (lid_chat && self.lid ? self.lid->to_non_ad().str() : self.jid.to_non_ad().str());
}

// The target fields both add-on events carry (docs/CONTROL.md).
void add_target_fields(const message::TargetKey& t, const message::Incoming& in, const message::Self& self,
                       json& ev) {
  const std::string author = target_author(t, in, self);
  auto a = binary::Jid::parse(author);
  ev.erase("text");
  ev["target_id"] = t.id;
  ev["target_sender"] = author;
  ev["target_from_me"] = a && self.is_own_user(a->user);
}

// A reaction is its own event (docs/CONTROL.md, "reaction"): the message it
// reacts to, by id and author, and the emoji ("" when it was taken back).
void add_reaction_fields(const message::Reaction& r, const message::Incoming& in, const message::Self& self,
                         json& ev) {
  ev["type"] = "reaction";
  add_target_fields(r.target, in, self, ev);
  ev["emoji"] = r.emoji;
  ev["removed"] = r.emoji.empty();
}

void add_location_fields(const message::Location& l, json& ev) {
  ev.erase("text");
  ev["latitude"] = l.latitude;
  ev["longitude"] = l.longitude;
  if (!l.name.empty()) ev["name"] = l.name;
  if (!l.address.empty()) ev["address"] = l.address;
  if (!l.url.empty()) ev["url"] = l.url;
  if (!l.comment.empty()) ev["comment"] = l.comment;
  if (l.accuracy_m) ev["accuracy_m"] = l.accuracy_m;
  ev["live"] = l.live;
}

void add_contact_fields(const std::vector<message::ContactCard>& cards, json& ev) {
  ev.erase("text");
  json list = json::array();
  for (const auto& c : cards) list.push_back({{"name", c.name}, {"vcard", c.vcard}});
  ev["contacts"] = std::move(list);
}

// The same user, in either namespace: a revoke may name the author by LID
// while the message was stored under its phone number, or the other way.
Result<bool> same_user(store::Store& st, const std::string& a, const std::string& b) {
  auto ja = binary::Jid::parse(a);
  auto jb = binary::Jid::parse(b);
  if (!ja || !jb) return false;
  if (ja->to_non_ad() == jb->to_non_ad()) return true;
  auto alt = message::alternate_user(st, ja->to_non_ad());
  if (!alt) return Unexpected<Error>{alt.error()};
  return *alt && (*alt)->to_non_ad() == jb->to_non_ad();
}

// A revoke (docs/CONTROL.md, "revoked"): its own event, and the message it
// deletes stays in the log marked `revoked`. Only a message of the author
// the key names is marked, and a plain revoke names its own sender - nobody
// deletes someone else's message except as a group admin (`by_admin`).
Status apply_revoke(store::Store& st, const message::TargetKey& t, const message::Incoming& in,
                    const message::Self& self, json& ev) {
  ev["type"] = "revoked";
  add_target_fields(t, in, self, ev);
  const bool by_admin = in.is_group && !t.from_me;
  ev["by_admin"] = by_admin;
  bool found = false;
  auto rows = st.inbox_messages(t.id, in.chat);
  if (!rows) return Unexpected<Error>{rows.error()};
  const std::string author = ev["target_sender"].get<std::string>();
  for (const auto& row : *rows) {
    auto same = same_user(st, row.sender, author);
    if (!same) return Unexpected<Error>{same.error()};
    if (!*same) continue;
    json patch{{"revoked", true}, {"revoked_by", in.sender}, {"revoke_id", in.id}, {"revoked_at", in.timestamp}};
    WA_TRY(st.inbox_patch(row.seq, patch.dump()));
    found = true;
  }
  ev["target_found"] = found;
  return {};
}

// What a message that is not text holds, into its event: an add-on with a
// secret (receive_addons.cpp), a reaction, a revoke, a location, contact
// cards, media; anything else whole as `protobuf`.
Status describe_content(store::Store& st, const message::Incoming& in, const message::Self& self, json& ev) {
  proto::Message content;
  if (!content.ParseFromArray(in.raw.data(), static_cast<int>(in.raw.size()))) {
    ev["protobuf"] = to_base64(in.raw);
    return {};
  }
  auto addon = receive_addons(st, in, content, ev);
  if (!addon) return Unexpected<Error>{addon.error()};
  if (*addon) return {};
  if (auto reaction = message::find_reaction(content)) {
    add_reaction_fields(*reaction, in, self, ev);
    return {};
  }
  if (auto revoke = message::find_revoke(content)) return apply_revoke(st, *revoke, in, self, ev);
  if (auto location = message::find_location(content)) {
    add_location_fields(*location, ev);
    return {};
  }
  if (auto cards = message::find_contacts(content); !cards.empty()) {
    add_contact_fields(cards, ev);
    return {};
  }
  if (auto media = message::find_media(content)) {
    // The media's key, path and hashes stay in the store (what `download`
    // needs); the event carries what a consumer shows and a handle.
    add_media_fields(*media, ev);
    ev["media"] = json{{"id", in.id}, {"chat", in.chat}};
    return st.media_put(store::MediaRef{in.id, in.chat, in.sender, in.raw, "", in.timestamp});
  }
  // Content we do not read (yet): the consumer gets it whole.
  ev["protobuf"] = to_base64(in.raw);
  return {};
}

}  // namespace

Status Receiver::decrypt_and_store(const binary::Node& stanza, const message::Self& self, Outcome& out) {
  auto dec = message::decrypt_message(*sig_, self, stanza);
  if (!dec) return Unexpected<Error>{dec.error()};
  out.in = std::move(*dec);
  const message::Incoming& in = out.in;
  if (!in.has_content) return {};
  json ev{{"type", "message"},       {"id", in.id},           {"chat", in.chat},
          {"sender", in.sender},     {"from_me", in.from_me}, {"timestamp", in.timestamp},
          {"msg_type", in.msg_type}, {"text", in.text},       {"quoted_id", in.quoted_id}};
  WA_TRY(keep_message_secret(*store_, in));
  // A text message is done; anything else is read once more for what it is.
  if (in.msg_type != "text") WA_TRY(describe_content(*store_, in, self, ev));
  WA_TRY(add_alternates(*store_, ev));
  // The message is the profile's next logged event: its seq is the one
  // consumers replay by, assigned in this very transaction.
  const int64_t ts = store::event_clock_ms();
  auto put = store_->inbox_put(store::message_entry(ev, ts));
  if (!put) return Unexpected<Error>{put.error()};
  out.fresh = put->inserted;
  ev["seq"] = put->seq;
  ev["ts"] = ts;
  out.event = std::move(ev);
  return {};
}

void Receiver::finish(const binary::Node& stanza, const message::Self& self, Outcome& out) {
  if (!out.status) return on_failed(stanza, self, out.status.error());
  const message::Incoming& in = out.in;
  for (const auto& a : in.identity_changed)
    hooks_.event({{"type", "identity_changed"}, {"jid", a.name}, {"device", a.device}});
  if (out.fresh) hooks_.event(std::move(out.event));
  retries_.erase(in.id);
  // Only now, with the message durable, does the server learn it arrived.
  auto receipt = message::build_delivery_receipt(stanza, in.from_me);
  if (receipt) (void)hooks_.send(*receipt);
}

void Receiver::on_failed(const binary::Node& stanza, const message::Self& self, const Error& err) {
  if (redelivered(stanza, self)) return;
  std::string id(stanza.attr_or("id", ""));
  WA_WARN("undecryptable message %s: %s (%s)", id.c_str(), err.code.c_str(), err.message.c_str());
  // The same chat (user or group JID) and sender (device) as a message event.
  auto src = message::message_source(self, stanza);
  std::string chat = src ? src->chat : std::string(stanza.attr_or("from", ""));
  std::string sender = src ? src->sender : std::string(stanza.attr_or("participant", stanza.attr_or("from", "")));
  json ev{{"type", "undecryptable"}, {"id", id}, {"chat", chat}, {"sender", sender}, {"reason", err.code}};
  (void)add_alternates(*store_, ev);  // best effort: the event goes out regardless
  hooks_.event(std::move(ev));
  // Not in the inbox (redelivered() answered that): every decryption failure,
  // a reused message key under this new id included, gets a retry receipt.
  if (auto nack = message::nack_code_for(err)) {
    auto a = message::build_ack(stanza, &self, *nack);
    if (a) (void)hooks_.send(*a);
    return;
  }
  uint32_t count = ++retries_[id];
  if (count > message::kMaxRetryCount) {
    auto a = message::build_ack(stanza, &self);
    if (a) (void)hooks_.send(*a);
    return;
  }
  std::optional<message::RetryKeys> keys;
  if (count > 1) {
    auto k = message::make_retry_keys(*store_, self);
    if (k) keys = std::move(*k);
  }
  auto r = message::build_retry_receipt(stanza, count, self.registration_id, keys ? &*keys : nullptr);
  if (r) (void)hooks_.send(*r);
}

void Receiver::on_receipt(const binary::Node& stanza) {
  flush();  // a receipt never overtakes the messages before it
  json ids = json::array();
  ids.push_back(std::string(stanza.attr_or("id", "")));
  if (const auto* list = stanza.child("list")) {
    for (const auto* item : list->children("item")) ids.push_back(std::string(item->attr_or("id", "")));
  }
  std::string type(stanza.attr_or("type", "delivered"));
  // "inactive" is a delivery to a device that is not marked online.
  if (type == "inactive") type = "delivered";
  // The chat is the user (or group), not the device that sent the receipt.
  std::string chat(stanza.attr_or("from", ""));
  if (auto j = binary::Jid::parse(chat); j) chat = j->to_non_ad().str();
  if (type != "retry") {
    json ev{{"type", "receipt"}, {"ids", ids}, {"chat", chat}, {"receipt_type", type}};
    (void)add_alternates(*store_, ev);  // best effort: the event goes out regardless
    hooks_.event(std::move(ev));
  }
  ack(stanza);
}

}  // namespace wa::connection
