// The contact side of the account: profile pictures (w:profile:picture),
// the block list (blocklist), about texts (status, w:mex, usync <status/>)
// and presence. Kept in memory for this run of the server (like who talks to
// whom): a restarted server forgets pictures, block lists, about texts and
// subscriptions.
//
// Rules, as the real server shows them to clients:
//   - a picture or about text is hidden (401) from a user its owner blocks;
//   - a message from a blocked user is acked to its sender as usual but
//     never delivered to the blocker's devices (the sender is not told);
//   - presence goes to a subscriber's device only while that device is
//     available (it sent <presence type="available">), and not to a user the
//     account blocks; a subscription lasts as long as the subscriber's
//     connection;
//   - changes (picture, about, block list) are pushed as notifications: to
//     the account's other devices and to its contacts (who exchanged messages
//     with it in this run, or subscribed to its presence).
#include <filesystem>
#include <fstream>

#include "server.hpp"
#include "stanza.hpp"
#include "wa/crypto/crypto.hpp"
#include "wa/ipc/codec.hpp"

namespace wa::testserver {

using binary::Jid;
using binary::Node;

namespace {

std::string user_key(const Jid& j) { return j.is_group() ? j.user + "@g.us" : j.user; }

}  // namespace

// The JID an account is named by towards others: its LID on the LID-first server.
std::string Server::public_jid(const std::string& phone) {
  const Account* a = state_.account(phone);
  if (state_.policy.lid && a) return lid_jid(a->lid, 0);
  return pn_jid(phone, 0);
}

bool Server::blocks(const std::string& blocker, const std::string& other) const {
  auto it = directory_.blocked.find(blocker);
  return it != directory_.blocked.end() && it->second.count(other) != 0;
}

void Server::notify_contacts(const std::string& phone, const DeviceAddr& except, const Node& n, bool others_too) {
  std::set<std::string> to{phone};
  if (others_too) {
    if (auto it = contacts_.find(phone); it != contacts_.end()) to.insert(it->second.begin(), it->second.end());
    if (auto it = directory_.subscribers.find(phone); it != directory_.subscribers.end())
      for (const auto& [dev, jid] : it->second) to.insert(dev.phone);
  }
  for (const auto& p : to) {
    const Account* a = state_.account(p);
    if (!a) continue;
    for (const auto& [id, d] : a->devices) {
      DeviceAddr addr{p, id};
      if (addr == except) continue;
      Node copy = n;
      copy.set_attr("id", next_id());
      deliver({addr, std::move(copy)});
    }
  }
}

// ---- profile pictures ----

Node Server::iq_picture(Conn& c, const Node& iq) {
  const std::string type(iq.attr_or("type", ""));
  const Node* pic = iq.child("picture");
  if (type == "get") {
    auto target = Jid::parse(iq.attr_or("target", ""));
    if (!target || !pic) return error_for(iq, 400, "bad-request");
    std::string key;
    if (target->is_group()) {
      key = user_key(*target);
    } else {
      auto addr = resolve(state_, *target);
      if (!addr) return error_for(iq, 404, "item-not-found");
      if (blocks(addr->phone, c.addr.phone)) return error_for(iq, 401, "not-authorized");
      key = addr->phone;
    }
    auto it = directory_.pictures.find(key);
    if (it == directory_.pictures.end()) return error_for(iq, 404, "item-not-found");
    const Picture& p = it->second;
    Node r = result_for(iq);
    if (pic->attr_or("id", "") == p.id) {
      r.content = binary::Children{Node("picture", {{"status", "304"}, {"id", p.id}})};
      return r;
    }
    const std::string kind(pic->attr_or("type", "preview"));
    r.content = binary::Children{Node("picture", {{"id", p.id},
                                                  {"type", kind == "image" ? "image" : "preview"},
                                                  {"url", p.url},
                                                  {"direct_path", p.direct_path}})};
    return r;
  }
  if (type != "set") return error_for(iq, 400, "bad-request");
  // Our own, or a group's we are a member of (target=GID).
  std::string key = c.addr.phone;
  std::string owner_jid = public_jid(c.addr.phone);
  if (auto t = iq.attr("target")) {
    auto target = Jid::parse(*t);
    if (!target) return error_for(iq, 400, "bad-request");
    if (target->is_group()) {
      Group* g = state_.group(target->user);
      if (!g || !g->has(c.addr.phone)) return error_for(iq, 403, "forbidden");
      key = user_key(*target);
      owner_jid = key;
    } else if (auto addr = resolve(state_, *target); !addr || addr->phone != c.addr.phone) {
      return error_for(iq, 401, "not-authorized");
    }
  }
  Node note("notification", {{"from", owner_jid}, {"type", "picture"}, {"t", std::to_string(now_unix())}});
  if (!pic) {
    directory_.pictures.erase(key);
    note.content = binary::Children{Node("delete", {{"jid", owner_jid}})};
    notify_contacts(c.addr.phone, c.addr, note, true);
    return result_for(iq);
  }
  const Bytes* jpeg = pic->bytes();
  if (!jpeg || jpeg->size() < 4 || (*jpeg)[0] != 0xFF || (*jpeg)[1] != 0xD8) return error_for(iq, 406, "not-acceptable");
  Picture p;
  p.id = std::to_string(now_unix()) + to_hex(crypto::random_bytes(2));
  p.direct_path = media::new_direct_path(now_unix() + 30ull * 24 * 3600);
  // Served by our media host when it runs, else a URL that names it only.
  if (media_store_ && media_) {
    media::Blob b;
    b.file = media_store_->new_file_name();
    b.size = jpeg->size();
    b.type = "image";
    b.phone = c.addr.phone;
    b.direct_path = p.direct_path;
    b.created = now_unix();
    std::ofstream f(media_store_->file_path(b), std::ios::binary);
    f.write(reinterpret_cast<const char*>(jpeg->data()), static_cast<std::streamsize>(jpeg->size()));
    f.close();
    if (f) media_store_->add(std::string(media::path_of(p.direct_path)), std::move(b));
    p.url = "https://" + opts_.host + ":" + std::to_string(media_port()) + p.direct_path;
  } else {
    p.url = "https://pps.whatsapp.net" + p.direct_path;
  }
  directory_.pictures[key] = p;
  note.content = binary::Children{Node("set", {{"jid", owner_jid}, {"id", p.id}, {"author", public_jid(c.addr.phone)}})};
  notify_contacts(c.addr.phone, c.addr, note, true);
  Node r = result_for(iq);
  r.content = binary::Children{Node("picture", {{"id", p.id}})};
  return r;
}

// ---- block list ----

Node Server::blocklist_node(const std::string& phone) {
  binary::Children items;
  if (auto it = directory_.blocked.find(phone); it != directory_.blocked.end()) {
    for (const auto& b : it->second) {
      const Account* a = state_.account(b);
      if (state_.policy.lid && a) {
        items.push_back(Node("item", {{"jid", lid_jid(a->lid, 0)}, {"pn_jid", pn_jid(b, 0)}}));
      } else {
        items.push_back(Node("item", {{"jid", pn_jid(b, 0)}}));
      }
    }
  }
  return Node("list", {}, std::move(items));
}

Node Server::iq_blocklist(Conn& c, const Node& iq) {
  const std::string type(iq.attr_or("type", ""));
  if (type == "set") {
    const Node* item = iq.child("item");
    if (!item) return error_for(iq, 400, "bad-request");
    const std::string action(item->attr_or("action", ""));
    auto j = Jid::parse(item->attr_or("jid", ""));
    if (!j || (action != "block" && action != "unblock")) return error_for(iq, 400, "bad-request");
    // The 2026 form names the LID (and the number beside it); the number
    // alone is taken too.
    auto addr = resolve(state_, *j);
    if (!addr) {
      if (auto pn = Jid::parse(item->attr_or("pn_jid", ""))) addr = resolve(state_, *pn);
    }
    if (!addr || addr->phone == c.addr.phone) return error_for(iq, 404, "item-not-found");
    if (action == "block") {
      directory_.blocked[c.addr.phone].insert(addr->phone);
    } else {
      directory_.blocked[c.addr.phone].erase(addr->phone);
    }
    Node note("notification", {{"from", kServerJid}, {"type", "account_sync"}, {"t", std::to_string(now_unix())}});
    note.content = binary::Children{Node(
        "blocklist", {{"action", action}},
        binary::Children{Node("item", {{"jid", public_jid(addr->phone)}, {"action", action}})})};
    notify_contacts(c.addr.phone, c.addr, note, false);
  } else if (type != "get") {
    return error_for(iq, 400, "bad-request");
  }
  Node r = result_for(iq);
  r.content = binary::Children{blocklist_node(c.addr.phone)};
  return r;
}

// ---- about text ----

void Server::set_about(Conn& c, std::string text) {
  About& a = directory_.about[c.addr.phone];
  a.text = std::move(text);
  a.t = now_unix();
  Node note("notification", {{"from", public_jid(c.addr.phone)}, {"type", "status"}, {"t", std::to_string(a.t)}});
  note.content = binary::Children{Node("set", {}, a.text)};
  notify_contacts(c.addr.phone, c.addr, note, true);
}

Node Server::iq_status(Conn& c, const Node& iq) {
  if (iq.attr_or("type", "") != "set") return error_for(iq, 400, "bad-request");
  const Node* s = iq.child("status");
  if (!s) return error_for(iq, 400, "bad-request");
  auto chars = s->content_chars();
  set_about(c, chars ? std::string(*chars) : std::string());
  return result_for(iq);
}

// The GraphQL form (whatsmeow since 2026-08): one query id sets the about
// text; anything else is not modelled.
Node Server::iq_mex(Conn& c, const Node& iq) {
  const Node* q = iq.child("query");
  auto chars = q ? q->content_chars() : std::nullopt;
  if (!chars) return error_for(iq, 400, "bad-request");
  auto body = ipc::parse_json_text(as_bytes(std::string(*chars)));
  if (!body || !body->is_object()) return error_for(iq, 400, "bad-request");
  const auto* vars = body->contains("variables") ? &(*body)["variables"] : nullptr;
  const auto* input = vars && vars->is_object() && vars->contains("input") ? &(*vars)["input"] : nullptr;
  if (!input || !input->is_object() || !input->contains("text") || !(*input)["text"].is_string())
    return error_for(iq, 501, "feature-not-implemented");
  set_about(c, (*input)["text"].get<std::string>());
  Node r = result_for(iq);
  r.content = binary::Children{Node("result", {}, std::string(R"({"data":{"xwa2_text_status_update":{"success":true}}})"))};
  return r;
}

Node Server::about_node(const Conn& c, const std::string& phone) {
  if (blocks(phone, c.addr.phone)) return Node("status", {{"code", "401"}});
  auto it = directory_.about.find(phone);
  if (it == directory_.about.end()) return Node("status", {{"t", "0"}});
  return Node("status", {{"t", std::to_string(it->second.t)}}, it->second.text);
}

// ---- presence ----

Node Server::presence_of(const std::string& phone, const std::string& as_jid) {
  Node p("presence", {{"from", as_jid}});
  auto it = directory_.presence.find(phone);
  if (it == directory_.presence.end() || !it->second.available) {
    p.set_attr("type", "unavailable");
    if (it != directory_.presence.end() && it->second.last != 0) p.set_attr("last", std::to_string(it->second.last));
  }
  return p;
}

void Server::presence_changed(const std::string& phone) {
  auto subs = directory_.subscribers.find(phone);
  if (subs == directory_.subscribers.end()) return;
  for (const auto& [dev, jid] : subs->second) {
    if (!directory_.available_devices.count(dev) || blocks(phone, dev.phone)) continue;
    Conn* to = sessions_.online(dev);
    if (to && !to->link.closing) send(*to, presence_of(phone, jid));
  }
}

void Server::on_presence(Conn& c, const Node& p) {
  const std::string type(p.attr_or("type", "available"));
  if (type == "subscribe") {
    auto j = Jid::parse(p.attr_or("to", ""));
    auto addr = j ? resolve(state_, *j) : std::nullopt;
    if (!addr) return;
    const std::string as_jid = j->to_non_ad().str();
    directory_.subscribers[addr->phone][c.addr] = as_jid;
    // The contact's presence now, if this device may see it.
    if (directory_.available_devices.count(c.addr) && !blocks(addr->phone, c.addr.phone))
      send(c, presence_of(addr->phone, as_jid));
    return;
  }
  if (type != "available" && type != "unavailable") return;
  if (type == "available") {
    directory_.available_devices.insert(c.addr);
  } else {
    directory_.available_devices.erase(c.addr);
  }
  // The account is available while any of its devices is.
  bool any = false;
  for (const auto& d : directory_.available_devices) any = any || d.phone == c.addr.phone;
  Presence& ps = directory_.presence[c.addr.phone];
  if (auto name = p.attr("name")) ps.name = std::string(*name);
  if (ps.available == any) return;
  ps.available = any;
  if (!any) ps.last = now_unix();
  presence_changed(c.addr.phone);
}

// A device's connection ended: it is no longer available, and its
// subscriptions end with it.
void Server::presence_gone(const Conn& c) {
  for (auto& [phone, subs] : directory_.subscribers) subs.erase(c.addr);
  if (!directory_.available_devices.erase(c.addr)) return;
  bool any = false;
  for (const auto& d : directory_.available_devices) any = any || d.phone == c.addr.phone;
  if (any) return;
  Presence& ps = directory_.presence[c.addr.phone];
  ps.available = false;
  ps.last = now_unix();
  presence_changed(c.addr.phone);
}

admin::json Server::admin_contacts(const admin::json& req, std::shared_ptr<ipc::PendingRequest>&) {
  std::string phone = req.value("phone", "");
  if (auto st = admin::check_phone(phone); !st) return ipc::error_reply(st.error().code, st.error().message);
  if (!state_.account(phone)) return ipc::error_reply("unknown_account", "no account with this number");
  admin::json blocked = admin::json::array();
  if (auto it = directory_.blocked.find(phone); it != directory_.blocked.end())
    for (const auto& b : it->second) blocked.push_back(b);
  admin::json out{{"phone", phone}, {"blocked", blocked}};
  if (auto it = directory_.pictures.find(phone); it != directory_.pictures.end())
    out["picture"] = {{"id", it->second.id}, {"url", it->second.url}};
  if (auto it = directory_.about.find(phone); it != directory_.about.end()) out["about"] = it->second.text;
  auto pr = directory_.presence.find(phone);
  out["available"] = pr != directory_.presence.end() && pr->second.available;
  if (pr != directory_.presence.end()) out["push_name"] = pr->second.name;
  return ipc::ok_reply(out);
}

}  // namespace wa::testserver
