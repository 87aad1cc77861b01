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
#include "wa/message/lid.hpp"
#include "wa/message/receipt.hpp"
#include "wa/message/tctoken.hpp"

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
    auto st = store_->transaction(store::Durability::full_in_commit, [&]() -> Status {
      // Sessions are read under the contact's LID name whichever form is
      // given; the device list is cached under the form last addressed.
      auto n = store_->delete_all_sessions(user.signal_address_name());
      if (!n) return Unexpected<Error>{n.error()};
      dropped = *n;
      auto alt = message::alternate_user(*store_, user);
      if (!alt) return Unexpected<Error>{alt.error()};
      if (*alt) WA_TRY(store_->delete_device_list((*alt)->str()));
      // The contact's new install holds none of our tokens: the next DM to
      // it issues ours again (docs/PROTOCOL.md §12.2).
      WA_TRY(message::tctoken::forget_issued(*store_, user));
      return store_->delete_device_list(user.str());
    });
    if (!st) {
      // Not acked: the server delivers it again and we retry.
      WA_WARN("cannot drop the sessions of a changed identity: %s", st.error().code.c_str());
      if (store::is_store_failure(st.error())) halt(st.error());
      return true;
    }
    WA_INFO("identity of a contact changed: %zu sessions dropped", dropped);
    json ev{{"type", "identity_changed"}, {"jid", user.str()}, {"sessions_dropped", dropped}};
    (void)add_alternates(*store_, ev);
    hooks_.event(std::move(ev));
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
    auto st = store_->transaction(store::Durability::full_in_commit, [&]() -> Status {
      for (const auto& u : users) WA_TRY(store_->delete_device_list(u));
      return message::learn_mappings(*store_, stanza);  // `from` + `lid`
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

// <notification type="privacy_token" from=ISSUER [sender_lid]><tokens><token
// jid=OWN t type="trusted_contact">BYTES</token></tokens>: the token goes
// on our next DMs to ISSUER (message::tctoken). Stored before the ack; a
// store failure leaves it unacked, for the server to deliver again.
bool Receiver::on_privacy_token(const binary::Node& stanza) {
  flush();
  size_t kept = 0;
  auto st = store_->transaction(store::Durability::full_in_commit, [&]() -> Status {
    WA_TRY(message::learn_mappings(*store_, stanza));
    auto n = message::tctoken::store_received(*store_, stanza);
    if (!n) return Unexpected<Error>{n.error()};
    kept = *n;
    return {};
  });
  if (halted_by(st, "privacy token not stored")) return true;
  // Malformed: nothing kept, answered like any notification.
  if (st) WA_DEBUG("privacy token notification: %zu token(s) kept", kept);
  ack(stanza);
  return true;
}

bool Receiver::halted_by(const Status& st, const char* what) {
  if (st) return false;
  WA_WARN("%s: %s", what, st.error().code.c_str());
  if (!store::is_store_failure(st.error())) return false;
  // Not acked: the server delivers it again once the store works.
  halt(st.error());
  return true;
}

bool Receiver::on_contacts_changed(const binary::Node& stanza) {
  flush();
  struct Change {
    binary::Jid pn_new, lid_new, lid_old, pn_old;
  };
  std::vector<Change> changes;
  for (const binary::Node* m : stanza.children("modify")) {
    auto pn_new = binary::Jid::parse(m->attr_or("new", ""));
    auto lid_new = binary::Jid::parse(m->attr_or("new_lid", ""));
    auto lid_old = binary::Jid::parse(m->attr_or("old_lid", ""));
    auto pn_old = binary::Jid::parse(m->attr_or("old", ""));
    if (!pn_new || !pn_new->is_pn() || !lid_new || !lid_new->is_lid()) continue;
    changes.push_back({pn_new->to_non_ad(), lid_new->to_non_ad(), lid_old ? lid_old->to_non_ad() : binary::Jid{},
                       pn_old ? pn_old->to_non_ad() : binary::Jid{}});
  }
  if (!changes.empty()) {
    auto st = store_->transaction(store::Durability::full_in_commit, [&]() -> Status {
      for (const auto& c : changes) {
        for (const binary::Jid* j : {&c.pn_new, &c.lid_new, &c.lid_old, &c.pn_old})
          if (!j->user.empty()) WA_TRY(store_->delete_device_list(j->str()));
        WA_TRY(store_->put_lid_mapping(c.pn_new.user, c.lid_new.user));
      }
      return {};
    });
    if (halted_by(st, "cannot re-map a contact whose number moved")) return true;
    if (st) {
      for (const auto& c : changes) {
        json ev{{"type", "contact_changed"}, {"pn", c.pn_new.str()}, {"lid", c.lid_new.str()}};
        if (!c.lid_old.user.empty()) ev["old_lid"] = c.lid_old.str();
        if (!c.pn_old.user.empty() && c.pn_old.user != c.pn_new.user) ev["old_pn"] = c.pn_old.str();
        hooks_.event(std::move(ev));
      }
    }
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
