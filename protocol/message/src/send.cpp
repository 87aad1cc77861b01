#include "wa/message/send.hpp"

#include <algorithm>
#include <charconv>

#include "wa/message/id.hpp"
#include "wa/message/lid.hpp"
#include "wa/message/media.hpp"
#include "wa/proto/message.pb.h"
#include "wa/store/store.hpp"

namespace wa::message {

namespace {

constexpr std::string_view kMemoryPrefix = "skmem:";
// A group has at most a few thousand member devices; refuse absurd records.
constexpr size_t kMaxMemoryBytes = 4u << 20;

binary::Node enc_node(const signal::Ciphertext& ct, std::optional<uint32_t> count = std::nullopt) {
  binary::Attrs a{{"v", "2"}, {"type", std::string(signal::enc_type(ct.type))}};
  if (count) a.emplace_back("count", std::to_string(*count));
  return binary::Node("enc", std::move(a), ct.data);
}

void add_device_identity(binary::Children& children, const Self& self, bool has_pkmsg) {
  // The receiver of a pkmsg checks that our device is signed by the account.
  if (has_pkmsg && !self.account_identity.empty())
    children.emplace_back("device-identity", binary::Attrs{}, self.account_identity);
}

Result<proto::Message> parse_message(ByteView bytes) {
  proto::Message m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return fail("bad_request", "message bytes are not a Message protobuf");
  return m;
}

Bytes serialize(const proto::Message& m) {
  std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

Bytes device_sent(const proto::Message& original, const binary::Jid& destination) {
  proto::Message dsm;
  auto* inner = dsm.mutable_devicesentmessage();
  inner->set_destinationjid(destination.str());
  *inner->mutable_message() = original;
  if (original.has_messagecontextinfo()) *dsm.mutable_messagecontextinfo() = original.messagecontextinfo();
  return serialize(dsm);
}

// Encrypts `plain` (already padded) for each device; failures are recorded.
Status encrypt_all(signal::SignalSession& sig, std::span<const binary::Jid> devices, ByteView plain, Built& out,
                   binary::Children& tos) {
  for (const auto& d : devices) {
    auto ct = sig.encrypt(address_of(d), plain);
    if (!ct) {
      if (store::is_store_failure(ct.error())) return Unexpected<Error>{ct.error()};
      out.failed.emplace_back(d, ct.error());
      continue;
    }
    out.has_pkmsg = out.has_pkmsg || ct->type == signal::MessageType::pkmsg;
    binary::Children enc;
    enc.push_back(enc_node(*ct));
    tos.emplace_back("to", binary::Attrs{{"jid", d.str()}}, std::move(enc));
    out.encrypted_for.push_back(d);
  }
  return {};
}

bool same_device(const binary::Jid& a, const Self& self) {
  return self.is_own_user(a.user) && a.device == self.jid.device && !a.is_hosted();
}

std::string memory_key(std::string_view group) { return std::string(kMemoryPrefix) + std::string(group); }

}  // namespace

store::Address address_of(const binary::Jid& device) {
  return store::Address{device.to_non_ad().signal_address_name(), device.device};
}

Result<std::optional<store::SentMessage>> find_sent(store::Store& st, std::string_view id, const binary::Jid& chat) {
  auto sent = st.sent_get(id, chat.to_non_ad().str());
  if (!sent || *sent || !chat.is_user()) return sent;
  auto alt = alternate_user(st, chat.to_non_ad());
  if (!alt) return Unexpected<Error>{alt.error()};
  if (!*alt) return sent;
  return st.sent_get(id, (*alt)->str());
}

IdentityPolicy accept_identity_changes() {
  return [](const store::Address&) { return IdentityDecision::accept; };
}

Result<std::vector<binary::Jid>> devices_without_session(signal::SignalSession& sig,
                                                         std::span<const binary::Jid> devices) {
  std::vector<binary::Jid> out;
  for (const auto& d : devices) {
    auto has = sig.has_session(address_of(d));
    if (!has) return Unexpected<Error>{has.error()};
    if (!*has) out.push_back(d);
  }
  return out;
}

Result<SessionReport> install_bundles(signal::SignalSession& sig, std::span<const FetchedBundle> bundles,
                                      const IdentityPolicy& policy) {
  SessionReport rep;
  for (const auto& fb : bundles) {
    if (!fb.bundle) {
      rep.failed.emplace_back(fb.jid, fb.bundle.error());
      continue;
    }
    auto addr = address_of(fb.jid);
    auto r = sig.process_bundle(addr, *fb.bundle);
    if (!r && r.error().code == "identity_changed") {
      if (policy(addr) != IdentityDecision::accept) {
        rep.failed.emplace_back(fb.jid, r.error());
        continue;
      }
      WA_TRY(sig.accept_identity(addr, fb.bundle->identity_key));
      rep.identity_changed.push_back(fb.jid);
      r = sig.process_bundle(addr, *fb.bundle);
    }
    if (!r) {
      if (store::is_store_failure(r.error())) return Unexpected<Error>{r.error()};
      rep.failed.emplace_back(fb.jid, r.error());
      continue;
    }
    if (*r) rep.installed.push_back(fb.jid);
  }
  return rep;
}

// The <enc mediatype> of a media message, "" for anything else (docs/PROTOCOL.md
// §12.3; Baileys' getMediaType on the message unwrapped from its view-once and
// captioned-document envelopes).
std::string media_type_of(const proto::Message& message) {
  const proto::Message& m = media_content(message);
  if (m.has_imagemessage()) return "image";
  if (m.has_videomessage()) return m.videomessage().gifplayback() ? "gif" : "video";
  if (m.has_ptvmessage()) return "video";
  if (m.has_audiomessage()) return m.audiomessage().ptt() ? "ptt" : "audio";
  if (m.has_documentmessage()) return "document";
  if (m.has_stickermessage()) return "sticker";
  // Contact cards and live locations are "media" on the wire too, though
  // nothing is uploaded (a plain location is text).
  if (m.has_contactmessage()) return "vcard";
  if (m.has_contactsarraymessage()) return "contact_array";
  if (m.has_livelocationmessage()) return "livelocation";
  return "";
}

std::string media_type_of(ByteView message) {
  proto::Message m;
  if (!m.ParseFromArray(message.data(), static_cast<int>(message.size()))) return "";
  return media_type_of(m);
}

namespace {

// Sets an attribute on every <enc> of the stanza.
void mark_encs(binary::Node& stanza, std::string_view key, const std::string& value) {
  auto mark = [&](auto& self, binary::Node& n) -> void {
    if (n.tag == "enc") n.set_attr(key, value);
    if (auto* kids = n.mutable_children())
      for (auto& k : *kids) self(self, k);
  };
  mark(mark, stanza);
}

// Polls and edits (docs/PROTOCOL.md §12.4): a poll is type="poll" with
// <meta polltype="creation"/>, a vote type="poll" with <meta
// polltype="vote"/> and decrypt-fail="hide" (whatsmeow); an edit keeps
// type="text" and says edit="1", hidden if it cannot be decrypted.
bool mark_addon_stanza(binary::Node& stanza, const proto::Message& message) {
  const bool creation = message.has_pollcreationmessage() || message.has_pollcreationmessagev2() ||
                        message.has_pollcreationmessagev3();
  if (creation || message.has_pollupdatemessage()) {
    stanza.set_attr("type", "poll");
    if (!creation) mark_encs(stanza, "decrypt-fail", "hide");
    if (auto* kids = stanza.mutable_children())
      kids->emplace_back(std::string("meta"), binary::Attrs{{"polltype", creation ? "creation" : "vote"}});
    return true;
  }
  const proto::Message& inner = message.has_editedmessage() ? message.editedmessage().message() : message;
  if (inner.has_protocolmessage() &&
      inner.protocolmessage().type() == proto::Message::ProtocolMessage::MESSAGE_EDIT) {
    stanza.set_attr("type", "text");
    stanza.set_attr("edit", "1");
    mark_encs(stanza, "decrypt-fail", "hide");
    return true;
  }
  return false;
}

// type="media" with every <enc> marked with the media type; type="reaction"
// with decrypt-fail="hide" on the encs (a reaction that fails to decrypt
// shows no placeholder, as Baileys and whatsmeow send it); else type="text".
void set_message_type(binary::Node& stanza, const proto::Message& message) {
  // A revoke names what it deletes by edit="7" (our own message) or "8" (an
  // admin deleting someone else's in a group); a receiver that cannot
  // decrypt it shows no placeholder.
  if (message.has_protocolmessage() && message.protocolmessage().type() == proto::Message::ProtocolMessage::REVOKE) {
    stanza.set_attr("type", "text");
    stanza.set_attr("edit", message.protocolmessage().key().fromme() ? "7" : "8");
    mark_encs(stanza, "decrypt-fail", "hide");
    return;
  }
  if (message.has_reactionmessage()) {
    stanza.set_attr("type", "reaction");
    mark_encs(stanza, "decrypt-fail", "hide");
    return;
  }
  if (mark_addon_stanza(stanza, message)) return;
  const std::string mt = media_type_of(message);
  stanza.set_attr("type", mt.empty() ? "text" : "media");
  if (!mt.empty()) mark_encs(stanza, "mediatype", mt);
}

}  // namespace

Result<Built> build_direct_message(signal::SignalSession& sig, const Self& self, const Outgoing& msg,
                                   std::span<const binary::Jid> peer_devices,
                                   std::span<const binary::Jid> own_devices, const DirectExtras& extras) {
  if (!msg.to.is_user()) return fail("bad_request", "a direct message needs a user jid");
  if (!plausible_message_id(msg.id)) return fail("bad_request", "invalid message id");
  auto original = parse_message(msg.message);
  if (!original) return Unexpected<Error>{original.error()};

  Built out;
  binary::Children tos;
  Bytes padded = pad(msg.message);
  WA_TRY(encrypt_all(sig, peer_devices, padded, out, tos));
  secure_wipe(padded);
  if (out.encrypted_for.empty()) {
    std::string why = out.failed.empty() ? "no devices" : out.failed.front().second.code;
    return fail("session_failed", "could not encrypt for any device of the recipient (" + why + ")");
  }
  std::vector<binary::Jid> own;
  for (const auto& d : own_devices)
    if (!same_device(d, self)) own.push_back(d);
  if (!own.empty()) {
    Bytes dsm = device_sent(*original, msg.to.to_non_ad());
    Bytes dsm_padded = pad(dsm);
    Built own_out;
    WA_TRY(encrypt_all(sig, own, dsm_padded, own_out, tos));
    secure_wipe(dsm);
    secure_wipe(dsm_padded);
    out.has_pkmsg = out.has_pkmsg || own_out.has_pkmsg;
    // A failing own device only costs that device its copy of our sent message.
    out.encrypted_for.insert(out.encrypted_for.end(), own_out.encrypted_for.begin(), own_out.encrypted_for.end());
    out.failed.insert(out.failed.end(), own_out.failed.begin(), own_out.failed.end());
  }
  binary::Children children;
  children.emplace_back("participants", binary::Attrs{}, std::move(tos));
  add_device_identity(children, self, out.has_pkmsg);
  // The token goes last, with no attributes.
  if (extras.tctoken && !extras.tctoken->empty()) children.emplace_back("tctoken", binary::Attrs{}, *extras.tctoken);
  binary::Attrs attrs{{"id", msg.id}, {"to", msg.to.to_non_ad().str()}, {"type", "text"}};
  if (msg.to.is_lid() && extras.peer_pn && extras.peer_pn->is_pn())
    attrs.emplace_back("peer_recipient_pn", extras.peer_pn->to_non_ad().str());
  out.stanza = binary::Node("message", std::move(attrs), std::move(children));
  set_message_type(out.stanza, *original);
  return out;
}

Result<std::set<std::string>> sender_key_memory(store::Store& st, std::string_view group) {
  auto raw = st.get_credential(memory_key(group));
  if (!raw) return Unexpected<Error>{raw.error()};
  std::set<std::string> out;
  if (!*raw) return out;
  std::string_view s = as_chars(**raw);
  while (!s.empty()) {
    size_t nl = s.find('\n');
    std::string_view line = s.substr(0, nl);
    if (!line.empty()) out.emplace(line);
    if (nl == std::string_view::npos) break;
    s.remove_prefix(nl + 1);
  }
  return out;
}

namespace {
Status write_memory(store::Store& st, std::string_view group, const std::set<std::string>& mem) {
  std::string s;
  for (const auto& j : mem) {
    s += j;
    s += '\n';
  }
  if (s.size() > kMaxMemoryBytes) return fail("too_large", "sender key memory too large");
  return st.put_credential(memory_key(group), as_bytes(s));
}
}  // namespace

Status remember_sender_key_recipients(store::Store& st, std::string_view group, std::span<const binary::Jid> devices) {
  return st.transaction(store::Durability::normal, [&]() -> Status {
    auto mem = sender_key_memory(st, group);
    if (!mem) return Unexpected<Error>{mem.error()};
    for (const auto& d : devices) mem->insert(d.str());
    return write_memory(st, group, *mem);
  });
}

Status forget_sender_key_memory(store::Store& st, std::string_view group) {
  return st.delete_credential(memory_key(group));
}

Result<Built> build_group_message(signal::SignalSession& sig, store::Store& st, const Self& self,
                                  const Outgoing& msg, std::span<const binary::Jid> devices,
                                  const GroupOptions& options) {
  if (!msg.to.is_group()) return fail("bad_request", "a group message needs a group jid");
  if (!plausible_message_id(msg.id)) return fail("bad_request", "invalid message id");
  auto original = parse_message(msg.message);
  if (!original) return Unexpected<Error>{original.error()};
  const std::string group = msg.to.to_non_ad().str();
  const store::Address me = self.address(options.lid_addressing);

  // Rotate when a user we gave the key to is gone from the member list.
  auto mem = sender_key_memory(st, group);
  if (!mem) return Unexpected<Error>{mem.error()};
  std::set<std::string> users;
  for (const auto& d : devices) users.insert(d.to_non_ad().str());
  bool rotate = false;
  for (const auto& j : *mem) {
    auto parsed = binary::Jid::parse(j);
    if (!parsed || !users.count(parsed->to_non_ad().str())) {
      rotate = true;
      break;
    }
  }
  if (rotate) {
    auto rotated = st.transaction(store::Durability::full, [&]() -> Status {
      WA_TRY(st.delete_sender_key(group, me));
      return forget_sender_key_memory(st, group);
    });
    if (!rotated) return Unexpected<Error>{rotated.error()};
    mem->clear();
  }

  auto skdm = sig.create_sender_key_distribution(group, me);
  if (!skdm) return Unexpected<Error>{skdm.error()};
  Bytes padded = pad(msg.message);
  auto skmsg = sig.group_encrypt(group, me, padded);
  secure_wipe(padded);
  if (!skmsg) return Unexpected<Error>{skmsg.error()};

  std::vector<binary::Jid> need;
  for (const auto& d : devices) {
    if (same_device(d, self) || d.is_hosted() || d.device == 99) continue;
    if (!mem->count(d.str())) need.push_back(d);
  }
  Built out;
  binary::Children tos;
  if (!need.empty()) {
    proto::Message m;
    auto* s = m.mutable_senderkeydistributionmessage();
    s->set_groupid(group);
    s->set_axolotlsenderkeydistributionmessage(std::string(as_chars(*skdm)));
    Bytes plain = pad(serialize(m));
    WA_TRY(encrypt_all(sig, need, plain, out, tos));
    secure_wipe(plain);
    out.sender_key_recipients = out.encrypted_for;
  }
  binary::Children children;
  if (!tos.empty()) children.emplace_back("participants", binary::Attrs{}, std::move(tos));
  children.emplace_back("enc", binary::Attrs{{"v", "2"}, {"type", "skmsg"}}, std::move(*skmsg));
  add_device_identity(children, self, out.has_pkmsg);
  binary::Attrs attrs{{"id", msg.id}, {"to", group}, {"type", "text"}};
  if (!options.addressing_mode.empty()) attrs.emplace_back("addressing_mode", options.addressing_mode);
  out.stanza = binary::Node("message", std::move(attrs), std::move(children));
  set_message_type(out.stanza, *original);
  return out;
}

Result<RetryRequest> parse_retry_receipt(const binary::Node& receipt) {
  if (receipt.tag != "receipt" || receipt.attr_or("type", "") != "retry")
    return fail("bad_receipt", "not a retry receipt");
  RetryRequest r;
  r.id = std::string(receipt.attr_or("id", ""));
  if (!plausible_message_id(r.id)) return fail("bad_receipt", "retry receipt without a valid id");
  auto from = binary::Jid::parse(receipt.attr_or("from", ""));
  if (!from || (!from->is_user() && !from->is_group())) return fail("bad_receipt", "retry receipt without a valid from");
  r.from = std::move(*from);
  if (auto p = receipt.attr("participant")) {
    auto pj = binary::Jid::parse(*p);
    if (!pj || !pj->is_user()) return fail("bad_receipt", "bad participant");
    r.participant = std::move(*pj);
  }
  if (r.from.is_group() && !r.participant) return fail("bad_receipt", "group retry receipt without participant");
  r.recipient = std::string(receipt.attr_or("recipient", ""));
  const binary::Node* retry = receipt.child("retry");
  if (!retry) return fail("bad_receipt", "retry receipt without <retry>");
  std::string_view cs = retry->attr_or("count", "1");
  uint32_t count = 0;
  auto [p, ec] = std::from_chars(cs.data(), cs.data() + cs.size(), count);
  if (ec != std::errc() || p != cs.data() + cs.size() || count == 0 || count > 1000)
    return fail("bad_receipt", "bad retry count");
  r.count = count;
  if (const binary::Node* reg = receipt.child("registration")) {
    auto v = reg->bytes() ? read_be(*reg->bytes(), 4) : std::nullopt;
    if (!v) return fail("bad_receipt", "<registration> must be 4 bytes");
    r.registration_id = *v;
  }
  if (const binary::Node* keys = receipt.child("keys")) {
    if (!r.registration_id) return fail("bad_receipt", "<keys> without <registration>");
    auto b = parse_key_material(*keys, *r.registration_id, r.device().device);
    if (!b) return fail("bad_receipt", b.error().message);
    r.keys = std::move(*b);
  }
  return r;
}

binary::Jid RetryRequest::chat() const {
  if (from.is_group()) return from;
  if (auto r = binary::Jid::parse(recipient); !recipient.empty() && r && r->is_user()) return r->to_non_ad();
  return from.to_non_ad();
}

Result<Built> build_retry_resend(signal::SignalSession& sig, store::Store& st, const Self& self,
                                 const RetryRequest& req, const store::SentMessage& sent,
                                 const IdentityPolicy& policy) {
  std::vector<binary::Jid> identity_changed;
  if (sent.msg_id != req.id) return fail("bad_request", "cached message does not match the retry");
  auto original = parse_message(sent.plaintext);
  if (!original) return Unexpected<Error>{original.error()};
  auto chat = binary::Jid::parse(sent.chat);
  if (!chat) return fail("bad_request", "cached message has a bad chat");
  const binary::Jid& device = req.device();
  auto addr = address_of(device);
  if (req.keys) {
    // The requester lost our session (or we lost theirs): start over from
    // its keys. The new session is built over the record, which keeps the
    // old state as a previous one: the requester's messages still in flight
    // on it must stay decryptable. Only a changed identity (accepted by the
    // policy, and reported) drops the sessions built on the old one.
    Bytes key = req.keys->identity_key;
    if (key.size() == 33) key.erase(key.begin());
    auto status = st.check_identity(addr, key);
    if (!status) return Unexpected<Error>{status.error()};
    if (*status == store::IdentityStatus::changed) {
      if (policy(addr) != IdentityDecision::accept)
        return fail("identity_changed", "the identity key of " + addr.name + " changed");
      WA_TRY(sig.accept_identity(addr, key));
      identity_changed.push_back(device);
    }
    auto installed = sig.replace_session(addr, *req.keys);
    if (!installed) return fail("session_failed", installed.error().code + ": " + installed.error().message);
  }
  proto::Message payload = *original;
  if (chat->is_group()) {
    auto skdm = sig.create_sender_key_distribution(chat->to_non_ad().str(), self.address(false));
    if (!skdm) return Unexpected<Error>{skdm.error()};
    auto* s = payload.mutable_senderkeydistributionmessage();
    s->set_groupid(chat->to_non_ad().str());
    s->set_axolotlsenderkeydistributionmessage(std::string(as_chars(*skdm)));
  }
  Bytes plain = self.is_own_user(device.user) && !chat->is_group() ? device_sent(*original, *chat) : serialize(payload);
  Bytes padded = pad(plain);
  secure_wipe(plain);
  auto ct = sig.encrypt(addr, padded);
  secure_wipe(padded);
  if (!ct) return fail("session_failed", ct.error().code + ": " + ct.error().message);
  Built out;
  out.identity_changed = std::move(identity_changed);
  out.has_pkmsg = ct->type == signal::MessageType::pkmsg;
  out.encrypted_for.push_back(device);
  binary::Children children;
  children.push_back(enc_node(*ct, req.count));
  add_device_identity(children, self, out.has_pkmsg);
  binary::Attrs attrs{{"id", req.id}, {"to", req.from.str()}, {"type", "text"}};
  if (!req.from.is_group()) attrs.emplace_back("device_fanout", "false");
  if (req.participant) attrs.emplace_back("participant", req.participant->str());
  if (!req.recipient.empty()) attrs.emplace_back("recipient", req.recipient);
  out.stanza = binary::Node("message", std::move(attrs), std::move(children));
  set_message_type(out.stanza, *original);
  return out;
}

}  // namespace wa::message
