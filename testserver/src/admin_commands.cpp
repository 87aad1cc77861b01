// The admin socket's commands (admin.hpp lists them): one table from cmd
// to handler; scan and link-code live in pairing.cpp, fault in faults.cpp.
#include "server.hpp"
#include "stanza.hpp"
#include "wa/ipc/codec.hpp"

namespace wa::testserver {

using binary::Jid;
using binary::Node;
using json = admin::json;

void Server::on_admin(std::shared_ptr<ipc::PendingRequest> req) {
  json reply;
  auto parsed = ipc::parse_json_text(req->body());
  if (!parsed || !parsed->is_object() || !(*parsed)["cmd"].is_string()) {
    reply = ipc::error_reply("bad_request", parsed ? "request must be an object with cmd" : parsed.error().message);
  } else {
    const json& r = *parsed;
    std::string cmd = r["cmd"];
    std::shared_ptr<ipc::PendingRequest> keep = req;
    static const std::pair<std::string_view, AdminCommand> kCommands[] = {
        {"scan", &Server::admin_scan},
        {"link-code", &Server::admin_link_code},
        {"status", &Server::admin_status},
        {"fault", &Server::admin_fault},
        {"drain-prekeys", &Server::admin_drain_prekeys},
        {"reset-identity", &Server::admin_reset_identity},
        {"migrate", &Server::admin_migrate},
        {"new-lid", &Server::admin_new_lid},
        {"contacts", &Server::admin_contacts},
        {"receipts", &Server::admin_receipts},
        {"media-expire", &Server::admin_media_expire},
        {"media-corrupt", &Server::admin_media_corrupt},
        {"media-refuse-uploads", &Server::admin_media_refuse_uploads},
        {"media-slow", &Server::admin_media_slow},
        {"media-list", &Server::admin_media_list},
        {"media-retry-key", &Server::admin_media_retry_key},
    };
    AdminCommand handler = nullptr;
    for (const auto& [name, h] : kCommands)
      if (name == cmd) handler = h;
    try {
      reply = handler ? (this->*handler)(r, keep) : ipc::error_reply("bad_request", "unknown cmd");
    } catch (const json::exception&) {
      // A field of the wrong type (the handlers read with value()/get<>).
      if (!keep) return;
      reply = ipc::error_reply("bad_request", "a field has the wrong type or is missing");
    }
    if (!keep) return;  // answered later (pairing in flight)
  }
  req->reply(as_bytes(ipc::dump_json(reply)));
}

json Server::admin_status(const json&, std::shared_ptr<ipc::PendingRequest>&) {
  json accounts = json::array();
  for (const auto& [phone, a] : state_.accounts()) {
    json devices = json::array();
    for (const auto& [id, d] : a.devices) {
      DeviceAddr addr{phone, id};
      const Conn* online = sessions_.online(addr);
      devices.push_back({{"jid", pn_jid(phone, id)}, {"lid", lid_jid(a.lid, id)}, {"online", online != nullptr},
                         {"prekeys", d.prekeys.size()}, {"queued", state_.queued_count(phone, id)},
                         {"unanswered", online ? online->outbox.unacked.size() : 0},
                         {"push_name", d.push_name}});
    }
    accounts.push_back({{"phone", phone}, {"lid", a.lid + "@lid"}, {"lid_migrated", a.lid_migrated}, {"devices", devices},
                        {"refuse_login", faults_.refusal(phone) ? *faults_.refusal(phone) : ""}});
  }
  json groups = json::array();
  for (const auto& [id, g] : state_.groups()) {
    json members = json::array();
    for (const auto& m : g.members) members.push_back(m.first);
    groups.push_back({{"id", id + "@g.us"}, {"subject", g.subject}, {"members", members},
                      {"addressing_mode", state_.policy.lid ? g.addressing_mode : "pn"}});
  }
  size_t unauthenticated = 0;
  for (const auto& [w, c] : transport_->conns()) {
    (void)w;
    if (!c->authed) ++unauthenticated;
  }
  const Policy& pol = state_.policy;
  json refused = json::object();
  for (const auto& [code, n] : counters_.refused) refused[std::to_string(code)] = n;
  return ipc::ok_reply({{"port", port()},
                        {"media_port", media_port()},
                        {"media", media_status()},
                        {"addressing", pol.lid ? "lid" : "pn"},
                        {"pn_lookups", pol.refuse_pn_lookups ? "refuse" : "serve"},
                        {"pn_dm_to_migrated", pol.pn_dm_to_migrated_463 ? "463" : "deliver"},
                        {"tctoken", pol.require_tctoken ? "require" : "off"},
                        {"connections", transport_->conns().size()}, {"online", sessions_.online_count()},
                        {"unauthenticated", unauthenticated}, {"accounts", accounts}, {"groups", groups},
                        {"counters", {{"messages", counters_.messages}, {"deliveries", counters_.deliveries},
                                      {"queued", counters_.queued}, {"receipts", counters_.receipts},
                                      {"retry_receipts", counters_.retry_receipts}, {"logins", counters_.logins},
                                      {"replaced", counters_.replaced},
                                      {"pairings", counters_.pairings}, {"device_notifications", counters_.device_notifications},
                                      {"privacy_tokens", counters_.privacy_tokens},
                                      {"privacy_token_iqs", counters_.privacy_token_iqs}, {"refused", refused},
                                      {"bad_frames", transport_->bad_frames()}}}});
}

// Every receipt the account's devices sent this run (oldest first), with
// the ids it answered and the server's wall clock at its arrival.
json Server::admin_receipts(const json& req, std::shared_ptr<ipc::PendingRequest>&) {
  std::string phone = req.value("phone", "");
  if (auto st = admin::check_phone(phone); !st) return ipc::error_reply(st.error().code, st.error().message);
  json out = json::array();
  for (const auto& r : receipt_log_) {
    if (r.from.phone != phone) continue;
    out.push_back({{"device", r.from.device}, {"type", r.type}, {"ids", r.ids}, {"at_us", r.at_us}});
  }
  return ipc::ok_reply({{"phone", phone}, {"receipts", out}, {"dropped", receipt_log_dropped_}});
}

json Server::admin_drain_prekeys(const json& req, std::shared_ptr<ipc::PendingRequest>&) {
  auto j = Jid::parse(req.value("jid", ""));
  auto addr = j ? resolve(state_, *j) : std::nullopt;
  Account* a = addr ? state_.account(addr->phone) : nullptr;
  if (!a || addr->device == 0 || !a->devices.count(addr->device))
    return ipc::error_reply("unknown_device", "no linked device with this JID");
  if (!req.contains("leave") || !req["leave"].is_number_unsigned()) return ipc::error_reply("bad_request", "leave must be a number");
  size_t leave = req["leave"].get<size_t>();
  size_t taken = 0;
  while (a->devices.at(addr->device).prekeys.size() > leave && state_.take_prekey(addr->phone, addr->device)) ++taken;
  check_prekey_stock(*addr);
  return ipc::ok_reply({{"taken", taken}, {"left", a->devices.at(addr->device).prekeys.size()}});
}

json Server::admin_reset_identity(const json& req, std::shared_ptr<ipc::PendingRequest>&) {
  std::string phone = req.value("phone", "");
  if (auto st = admin::check_phone(phone); !st) return ipc::error_reply(st.error().code, st.error().message);
  if (!state_.account(phone)) return ipc::error_reply("unknown_account", "no account with this number");
  // The old devices are gone: nothing held for them is delivered any more.
  for (Conn* c : sessions_.of_account(phone)) {
    drop_held(*c);
    transport_->stream_error(*c, "device_removed");
  }
  if (auto st = state_.reset_identity(phone); !st) return ipc::error_reply(st.error().code, st.error().message);
  for (auto it = prekeys_low_.begin(); it != prekeys_low_.end();) it = it->phone == phone ? prekeys_low_.erase(it) : std::next(it);
  size_t notified = 0;
  for (const auto& peer : contacts_[phone]) {
    auto* pa = state_.account(peer);
    if (!pa) continue;
    for (const auto& [dev_id, d] : pa->devices) {
      (void)d;
      Node n("notification", {{"from", pn_jid(phone, 0)}, {"type", "encrypt"}, {"id", next_id()},
                              {"t", std::to_string(now_unix())}});
      n.content = binary::Children{Node("identity")};
      deliver({DeviceAddr{peer, dev_id}, std::move(n)});
      ++notified;
    }
  }
  return ipc::ok_reply({{"notified", notified}});
}

// The account's primary moved its chats to LID addressing (on) or not
// (off): decides pair-success client-props and the LID DM rules. Creates
// the account (as scan does), so a test can pair an unmigrated one.
json Server::admin_migrate(const json& req, std::shared_ptr<ipc::PendingRequest>&) {
  std::string phone = req.value("phone", "");
  if (auto st = admin::check_phone(phone); !st) return ipc::error_reply(st.error().code, st.error().message);
  if (!req.contains("on") || !req["on"].is_boolean()) return ipc::error_reply("bad_request", "on must be true or false");
  state_.ensure_account(phone);
  if (auto st = state_.set_lid_migrated(phone, req["on"].get<bool>()); !st)
    return ipc::error_reply(st.error().code, st.error().message);
  return ipc::ok_reply({{"phone", phone}, {"lid_migrated", req["on"].get<bool>()}});
}

// Number change: a fresh LID; the old one resolves to nothing. Sessions
// stay, but every peer must re-map: the accounts it exchanged messages with
// get <notification type="contacts"><modify .../>.
json Server::admin_new_lid(const json& req, std::shared_ptr<ipc::PendingRequest>&) {
  std::string phone = req.value("phone", "");
  if (auto st = admin::check_phone(phone); !st) return ipc::error_reply(st.error().code, st.error().message);
  if (!state_.account(phone)) return ipc::error_reply("unknown_account", "no account with this number");
  auto old = state_.change_lid(phone);
  if (!old) return ipc::error_reply(old.error().code, old.error().message);
  std::set<std::string> peers = state_.dm_peers(phone);
  if (auto it = contacts_.find(phone); it != contacts_.end()) peers.insert(it->second.begin(), it->second.end());
  auto notes = plan_lid_change(state_, phone, *old, peers, now_unix(), [this] { return next_id(); });
  size_t notified = notes.size();
  for (auto& d : notes) deliver(std::move(d));
  return ipc::ok_reply({{"old_lid", lid_jid(*old, 0)}, {"lid", lid_jid(state_.account(phone)->lid, 0)}, {"notified", notified}});
}

}  // namespace wa::testserver
