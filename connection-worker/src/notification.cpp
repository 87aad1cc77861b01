// Notifications on the receive path, and recognising a redelivered message.
//
// <notification type="encrypt" from=USER><identity/></notification>: USER
// re-registered (reinstalled WhatsApp), so every Signal session we hold with
// any of its devices belongs to keys that no longer exist, and its cached
// device list names devices that are gone. Both are dropped in one durable
// transaction before the ack leaves; the next send fetches fresh devices and
// bundles, the next message from USER starts a new session. The low-prekey
// form (from the server, <count/>) is the client's business: it uploads.
//
// <notification type="devices" from=USER [lid=USER_LID]><add|remove|update
// device_hash><device jid [lid]/>...</...></notification>: USER linked or
// unlinked a device (USER may be our own account). The senders cache a
// device list for an hour (message::SendOptions::device_ttl_s); a device
// linked meanwhile would never get our messages. So the cached list of every
// user the notification names (both namespaces) is dropped, durably, before
// the ack: the next send asks the server again. The store is the profile's,
// so the senders (other processes) see it on their next send.
#include "receive.hpp"

#include <set>

#include "wa/binary/jid.hpp"
#include "wa/log.hpp"
#include "wa/message/receipt.hpp"

namespace wa::connection {

using json = nlohmann::json;

bool Receiver::on_identity_change(const binary::Node& stanza) {
  if (stanza.child("identity") == nullptr) return false;
  flush();  // it may refer to the messages before it
  auto from = binary::Jid::parse(stanza.attr_or("from", ""));
  auto self = message::load_self(*store_);
  // Only a contact's identity: the server's own jid or ours are not contacts.
  if (from && from->is_user() && self && !self->is_own_user(from->user)) {
    binary::Jid user = from->to_non_ad();
    size_t dropped = 0;
    auto st = store_->transaction(store::Durability::full, [&]() -> Status {
      auto n = store_->delete_all_sessions(user.signal_address_name());
      if (!n) return Unexpected<Error>{n.error()};
      dropped = *n;
      return store_->delete_device_list(user.str());
    });
    if (!st) {
      // Not acked: the server delivers it again and we retry.
      WA_WARN("cannot drop the sessions of a changed identity: %s", st.error().code.c_str());
      if (store::is_store_failure(st.error())) halt(st.error());
      return true;
    }
    WA_INFO("identity of a contact changed: %zu sessions dropped", dropped);
    hooks_.event({{"type", "identity_changed"}, {"jid", user.str()}, {"sessions_dropped", dropped}});
  }
  ack(stanza);
  return true;
}

bool Receiver::on_devices_changed(const binary::Node& stanza) {
  flush();  // it may refer to the messages before it
  std::set<std::string> users;
  auto note = [&](std::string_view text) {
    auto j = binary::Jid::parse(text);
    if (j && j->is_user()) users.insert(j->to_non_ad().str());
  };
  note(stanza.attr_or("from", ""));
  note(stanza.attr_or("lid", ""));
  for (const auto& change : stanza.children())
    for (const auto& d : change.children()) {
      if (d.tag != "device") continue;
      note(d.attr_or("jid", ""));
      note(d.attr_or("lid", ""));
    }
  if (!users.empty()) {
    auto st = store_->transaction(store::Durability::full, [&]() -> Status {
      for (const auto& u : users) WA_TRY(store_->delete_device_list(u));
      return {};
    });
    if (!st) {
      // Not acked: the server delivers it again and we retry.
      WA_WARN("cannot drop the device list of a user whose devices changed: %s", st.error().code.c_str());
      if (store::is_store_failure(st.error())) halt(st.error());
      return true;
    }
    WA_INFO("devices of %zu user(s) changed: cached device lists dropped", users.size());
  }
  ack(stanza);
  return true;
}

void Receiver::on_notification(const binary::Node& stanza) {
  flush();  // it may refer to the messages before it
  ack(stanza);
}

bool Receiver::redelivered(const binary::Node& stanza, const message::Self& self) {
  std::string id(stanza.attr_or("id", ""));
  auto from = binary::Jid::parse(stanza.attr_or("from", ""));
  if (id.empty() || !from) return false;
  auto sender = from->is_group() || from->is_broadcast() ? binary::Jid::parse(stanza.attr_or("participant", "")) : from;
  if (!sender) return false;
  auto seq = store_->inbox_find(id, sender->str());
  if (!seq && store::is_store_failure(seq.error())) {
    // Unknown whether it is stored: no answer of any kind (the batch ends
    // by stopping the receive path; the server delivers it again).
    if (!store_error_) store_error_ = seq.error();
    return true;
  }
  if (!seq || !*seq) return false;
  retries_.erase(id);
  WA_DEBUG("message redelivered, already in the inbox at seq %lld", static_cast<long long>(**seq));
  auto receipt = message::build_delivery_receipt(stanza, self.is_own_user(sender->user));
  if (receipt) (void)hooks_.send(*receipt);
  return true;
}

}  // namespace wa::connection
