// Login of a linked profile: <success> -> prekey check (prekeys.cpp) ->
// passive active -> `connection` open. And the offline queue, asked for in
// batches once the server previews it.
#include "client.hpp"
#include "wa/binary/jid.hpp"
#include "wa/log.hpp"

namespace wa::connection {

using binary::Node;

namespace {
// AB prop lid_one_on_one_migration_enabled.
constexpr std::string_view kAbLidOneOnOneMigration = "9435";
}  // namespace

void Client::on_success(const Node& node) {
  if (!creds_.registered()) {
    drop({CloseAction::reconnect_backoff, "unexpected_success"});
    return;
  }
  connect_timer_.stop();
  phase_ = Phase::logging_in;
  if (auto lid = node.attr("lid"); lid && !lid->empty() && creds_.lid != *lid) {
    creds_.lid = std::string(*lid);
    (void)store_->put_credential(store::cred::own_lid, as_bytes(creds_.lid));
  }
  // Our own PN <-> LID, on every login: our other devices' sessions live
  // under our LID like any contact's (a failure is retried next login).
  if (auto pn = binary::Jid::parse(creds_.jid), lid = binary::Jid::parse(creds_.lid); pn && lid && lid->is_lid())
    if (auto st = store_->put_lid_mapping(pn->user, lid->user); !st)
      WA_WARN("own LID mapping not stored: %s", st.error().code.c_str());
  keepalive_.start();
  check_prekeys();
  refresh_ab_props();
}

void Client::refresh_ab_props() {
  Node iq("iq", {{"to", kServerJid}, {"type", "get"}, {"xmlns", "abt"}},
          binary::Children{Node("props", {{"protocol", "1"}})});
  query(std::move(iq), [this](Result<Node> r) {
    // Optional: a server without AB props leaves the flag as pairing set it.
    if (!r) return;
    const Node* props = r->child("props");
    if (!props) return;
    for (const Node* p : props->children("prop")) {
      if (p->attr_or("config_code", "") != kAbLidOneOnOneMigration) continue;
      if (p->attr_or("config_value", "") != "true") continue;
      auto old = store_->get_credential(store::cred::lid_migrated);
      if (old && *old && !(*old)->empty() && (**old)[0] == 1) return;
      if (auto st = store_->put_credential(store::cred::lid_migrated, Bytes{1}); !st)
        WA_WARN("LID migration flag not stored: %s", st.error().code.c_str());
      else
        WA_INFO("the server marks this account's chats LID-migrated");
    }
  });
}

void Client::set_passive_active() {
  Node iq("iq", {{"to", kServerJid}, {"type", "set"}, {"xmlns", "passive"}}, binary::Children{Node("active")});
  query(std::move(iq), [this](Result<Node> r) {
    if (!r) {
      if (r.error().code == "not_connected") return;
      if (r.error().code == "timeout") return drop({CloseAction::reconnect_backoff, "passive_timeout"});
      WA_WARN("passive active refused: %s", r.error().code.c_str());
    }
    become_open();
  });
}

void Client::become_open() {
  if (phase_ != Phase::logging_in) return;
  phase_ = Phase::open;
  token_issue_unsupported_ = false;  // a new connection: maybe another server
  backoff_.reset();
  retrying_ = false;
  attempt_ = 0;
  uv_update_time(loop_);
  uint64_t took = uv_now(loop_) - connect_started_ms_;
  WA_INFO("logged in (%llu ms after connecting)", static_cast<unsigned long long>(took));
  // connect_ms: socket + handshake + login + prekey check + passive, as the
  // worker measured it (the benchmark's number).
  emit({{"type", "connection"}, {"state", "open"}, {"jid", creds_.jid}, {"lid", creds_.lid}, {"connect_ms", took}});
}

bool Client::on_offline_preview(const Node& ib) {
  if (ib.child("offline_preview") == nullptr) return false;
  // The server holds the offline queue until asked; like Baileys we take
  // it in batches of kOfflineBatch (the server sends the next batch once
  // this one is answered, so a long queue never floods the receive path).
  Node batch("offline_batch", {{"count", std::to_string(kOfflineBatch)}});
  (void)send_node(Node("ib", {}, binary::Children{std::move(batch)}));
  return true;
}

}  // namespace wa::connection
