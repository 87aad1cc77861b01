// Group IQs (xmlns w:g2: create, leave, participating, query, add/remove/
// promote/demote, subject, description, settings, invite links) with the
// rights the real server enforces, and the w:gp2 notifications members get.
#include <algorithm>
#include <set>

#include "wa/crypto/crypto.hpp"

#include "server.hpp"
#include "stanza.hpp"

namespace wa::testserver {

using binary::Jid;
using binary::Node;

// pn groups list `jid=PN lid=LID`, lid groups `jid=LID phone_number=PN`.
Node Server::group_participant(const Group& g, const std::string& phone) {
  const Account* a = state_.account(phone);
  if (state_.policy.lid && g.addressing_mode == "lid" && a)
    return Node("participant", {{"jid", lid_jid(a->lid, 0)}, {"phone_number", pn_jid(phone, 0)}});
  Node p("participant", {{"jid", pn_jid(phone, 0)}});
  if (a) p.set_attr("lid", lid_jid(a->lid, 0));
  return p;
}

Node Server::group_node(const Group& g) {
  binary::Children parts;
  for (const auto& [phone, admin] : g.members) {
    Node p = group_participant(g, phone);
    if (phone == g.creator) p.set_attr("type", "superadmin");
    else if (admin) p.set_attr("type", "admin");
    parts.push_back(std::move(p));
  }
  Node n("group", {{"id", g.id}, {"subject", g.subject}, {"s_t", std::to_string(g.creation)},
                   {"s_o", pn_jid(g.creator, 0)}, {"creation", std::to_string(g.creation)},
                   {"creator", pn_jid(g.creator, 0)}, {"size", std::to_string(g.members.size())},
                   {"addressing_mode", "pn"}});
  if (state_.policy.lid && g.addressing_mode == "lid") {
    if (const Account* ca = state_.account(g.creator)) {
      n.set_attr("s_o", lid_jid(ca->lid, 0));
      n.set_attr("s_o_pn", pn_jid(g.creator, 0));
      n.set_attr("creator", lid_jid(ca->lid, 0));
      n.set_attr("creator_pn", pn_jid(g.creator, 0));
    }
    n.set_attr("addressing_mode", "lid");
  }
  if (!g.description.empty()) {
    Node d("description", {{"id", g.desc_id}, {"t", std::to_string(g.desc_t)}},
           binary::Children{Node("body", {}, to_bytes(g.description))});
    if (!g.desc_by.empty()) d.set_attr("participant", author_jid(g, g.desc_by));
    parts.push_back(std::move(d));
  }
  if (g.announce) parts.emplace_back("announcement", binary::Attrs{}, binary::Children{});
  if (g.locked) parts.emplace_back("locked", binary::Attrs{}, binary::Children{});
  n.content = std::move(parts);
  return n;
}

// Who did something, as the group names its members (LID in lid groups).
std::string Server::author_jid(const Group& g, const std::string& phone) {
  const Account* a = state_.account(phone);
  if (state_.policy.lid && g.addressing_mode == "lid" && a) return lid_jid(a->lid, 0);
  return pn_jid(phone, 0);
}

void Server::notify_group(const Group& g, const std::string& action, const std::vector<std::string>& phones,
                          const DeviceAddr& author, binary::Attrs child_attrs) {
  // The pn server keeps its notifications as they always were (jid=PN only).
  const bool lid_server = state_.policy.lid;
  binary::Children parts;
  for (const auto& p : phones)
    parts.push_back(lid_server ? group_participant(g, p) : Node("participant", {{"jid", pn_jid(p, 0)}}));
  std::set<std::string> extra(phones.begin(), phones.end());
  notify_group_change(g, Node(action, std::move(child_attrs), std::move(parts)), extra, author);
}

// Every device of every member (and of `extra`, e.g. who was just removed)
// gets <notification type="w:gp2" from=GROUP participant=AUTHOR t>CHANGE.
void Server::notify_group_change(const Group& g, const Node& change, const std::set<std::string>& extra,
                                 const DeviceAddr& author) {
  const bool lid_server = state_.policy.lid;
  const bool lid_group = lid_server && g.addressing_mode == "lid";
  const Account* aa = state_.account(author.phone);
  uint64_t now = now_unix();
  std::set<std::string> audience = extra;
  for (const auto& m : g.members) audience.insert(m.first);
  for (const auto& phone : audience) {
    auto* a = state_.account(phone);
    if (!a) continue;
    for (const auto& [dev_id, d] : a->devices) {
      (void)d;
      Node n("notification", {{"from", g.id + "@g.us"}, {"type", "w:gp2"}, {"id", next_id()},
                              {"participant", pn_jid(author.phone, 0)}, {"t", std::to_string(now)}});
      if (lid_group && aa) {
        n.set_attr("participant", lid_jid(aa->lid, 0));
        n.set_attr("participant_pn", pn_jid(author.phone, 0));
      } else if (lid_server && aa) {
        n.set_attr("participant_lid", lid_jid(aa->lid, 0));
      }
      n.content = binary::Children{change};
      deliver({DeviceAddr{phone, dev_id}, std::move(n)});
    }
  }
}

namespace {

// 22 URL-safe characters, like the real codes.
std::string new_invite_code() {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string code;
  for (int i = 0; i < 22; ++i) code.push_back(kAlphabet[crypto::random_u32() % (sizeof(kAlphabet) - 1)]);
  return code;
}

}  // namespace

Node Server::iq_groups(Conn& c, const Node& iq) {
  uint64_t now = now_unix();
  auto to = Jid::parse(iq.attr_or("to", ""));
  if (!to || !to->is_group()) return error_for(iq, 400, "bad-request");
  // A participant by PN or LID; a LID this server does not know may come
  // with its phone_number (as whatsmeow sends it).
  auto resolve_participant = [&](const Node& p) -> std::optional<DeviceAddr> {
    auto j = Jid::parse(p.attr_or("jid", ""));
    auto addr = j ? resolve(state_, *j) : std::nullopt;
    if (!addr) {
      auto pn = Jid::parse(p.attr_or("phone_number", ""));
      if (pn && pn->is_pn()) addr = resolve(state_, *pn);
    }
    return addr;
  };
  auto member_phones = [&](const Node& action, std::vector<std::string>& out) {
    for (const auto& p : action.children()) {
      if (p.tag != "participant") continue;
      if (auto addr = resolve_participant(p)) out.push_back(addr->phone);
    }
  };
  if (const Node* create = iq.child("create")) {
    Group g;
    g.id = state_.new_group_id(c.addr.phone, now);
    g.subject = std::string(create->attr_or("subject", "")).substr(0, 100);
    g.creator = c.addr.phone;
    g.creation = now;
    // The LID-first server creates lid groups unless the create asks for pn.
    if (state_.policy.lid) g.addressing_mode = create->attr_or("addressing_mode", "lid") == "pn" ? "pn" : "lid";
    g.members.emplace_back(c.addr.phone, true);
    std::vector<std::string> add;
    member_phones(*create, add);
    for (const auto& p : add)
      if (!g.has(p)) g.members.emplace_back(p, false);
    if (!state_.save_group(g)) return error_for(iq, 500, "internal-server-error");
    Node r = result_for(iq);
    r.content = binary::Children{group_node(g)};
    std::vector<std::string> others;
    for (const auto& m : g.members)
      if (m.first != c.addr.phone) others.push_back(m.first);
    notify_group(g, "add", others, c.addr);
    return r;
  }
  if (const Node* leave = iq.child("leave")) {
    for (const auto& gn : leave->children()) {
      std::string gid(gn.attr_or("id", ""));
      if (auto pos = gid.find('@'); pos != std::string::npos) gid.resize(pos);
      Group* g = state_.group(gid);
      if (!g || !g->has(c.addr.phone)) continue;
      std::erase_if(g->members, [&](const auto& m) { return m.first == c.addr.phone; });
      Group copy = *g;
      (void)state_.save_group(copy);
      // The real server announces a leave as a <remove> of the author
      // (Baileys reads that as a leave; whatsmeow knows only <remove>).
      notify_group(copy, "remove", {c.addr.phone}, c.addr);
    }
    return result_for(iq);
  }
  // Invite links: get = what the code opens, set = join by it.
  if (const Node* inv = iq.child("invite"); inv && inv->has_attr("code")) {
    const std::string code(inv->attr_or("code", ""));
    Group* g = state_.group_by_invite(code);
    if (!g) return state_.invite_revoked(code) ? error_for(iq, 410, "gone") : error_for(iq, 406, "not-acceptable");
    if (iq.attr_or("type", "") == "get") {
      Node r = result_for(iq);
      r.content = binary::Children{group_node(*g)};
      return r;
    }
    Node r = result_for(iq);
    r.content = binary::Children{Node("group", {{"jid", g->id + "@g.us"}})};
    if (g->has(c.addr.phone)) return r;  // already in: nothing changes
    g->members.emplace_back(c.addr.phone, false);
    Group copy = *g;
    (void)state_.save_group(copy);
    notify_group(copy, "add", {c.addr.phone}, c.addr, {{"reason", "invite"}});
    return r;
  }
  if (iq.child("participating")) {
    binary::Children gs;
    for (const auto& [id, g] : state_.groups())
      if (g.has(c.addr.phone)) gs.push_back(group_node(g));
    Node r = result_for(iq);
    r.content = binary::Children{Node("groups", {}, std::move(gs))};
    return r;
  }
  Group* g = state_.group(to->user);
  if (!g) return error_for(iq, 404, "item-not-found");
  if (!g->has(c.addr.phone)) return error_for(iq, 403, "forbidden");
  if (iq.child("query")) {
    Node r = result_for(iq);
    r.content = binary::Children{group_node(*g)};
    return r;
  }
  // Rights, as the real server checks them: participants, settings and the
  // invite link are the admins'; the subject and description every
  // member's unless the group is locked. Refused: 401 not-authorized.
  const bool admin = g->is_admin(c.addr.phone);
  for (const char* action : {"add", "remove", "promote", "demote"}) {
    const Node* a = iq.child(action);
    if (!a) continue;
    if (!admin) return error_for(iq, 401, "not-authorized");
    // Per participant, as the real server answers: an `error` attribute on
    // the ones that could not be changed (404 unknown account / not a
    // member, 409 already a member); only the changed ones are notified.
    std::vector<std::string> phones;
    binary::Children result_parts;
    const std::string act(action);
    for (const auto& pn : a->children()) {
      if (pn.tag != "participant") continue;
      auto addr = resolve_participant(pn);
      Node part = addr && state_.policy.lid ? group_participant(*g, addr->phone)
                                            : Node("participant", {{"jid", addr ? pn_jid(addr->phone, 0) : std::string(pn.attr_or("jid", ""))}});
      if (!addr) {
        part.set_attr("error", "404");
      } else if (act == "add") {
        if (g->has(addr->phone)) part.set_attr("error", "409");
        else g->members.emplace_back(addr->phone, false);
      } else if (!g->has(addr->phone)) {
        part.set_attr("error", "404");
      } else if (addr->phone == g->creator && act != "promote") {
        part.set_attr("error", "406");  // the creator stays
      } else if (act == "remove") {
        std::erase_if(g->members, [&](const auto& m) { return m.first == addr->phone; });
      } else {
        for (auto& m : g->members)
          if (m.first == addr->phone) m.second = act == "promote";
      }
      if (!part.has_attr("error")) phones.push_back(addr->phone);
      result_parts.push_back(std::move(part));
    }
    Group copy = *g;
    (void)state_.save_group(copy);
    if (!phones.empty()) notify_group(copy, action, phones, c.addr);
    Node r = result_for(iq);
    r.content = binary::Children{Node(action, {}, std::move(result_parts))};
    return r;
  }
  auto save_and_notify = [&](const Node& change) {
    Group copy = *g;
    (void)state_.save_group(copy);
    notify_group_change(copy, change, {}, c.addr);
    return result_for(iq);
  };
  if (const Node* subj = iq.child("subject")) {
    if (g->locked && !admin) return error_for(iq, 401, "not-authorized");
    auto s = subj->content_chars();
    if (!s || s->empty()) return error_for(iq, 400, "bad-request");
    g->subject = std::string(*s).substr(0, 100);
    Node change("subject", {{"subject", g->subject}, {"s_t", std::to_string(now)}, {"s_o", author_jid(*g, c.addr.phone)}});
    if (state_.policy.lid && g->addressing_mode == "lid") change.set_attr("s_o_pn", pn_jid(c.addr.phone, 0));
    return save_and_notify(change);
  }
  if (const Node* desc = iq.child("description")) {
    if (g->locked && !admin) return error_for(iq, 401, "not-authorized");
    const std::string id(desc->attr_or("id", ""));
    const std::string prev(desc->attr_or("prev", ""));
    if (id.empty()) return error_for(iq, 400, "bad-request");
    // A change made from a stale view of the description is refused.
    if (!prev.empty() && prev != g->desc_id) return error_for(iq, 409, "conflict");
    const bool remove = desc->attr_or("delete", "") == "true";
    const Node* body = desc->child("body");
    auto text = body ? body->content_chars() : std::nullopt;
    if (!remove && (!text || text->empty())) return error_for(iq, 400, "bad-request");
    g->description = remove ? std::string() : std::string(*text).substr(0, 2048);
    g->desc_id = id;
    g->desc_t = now;
    g->desc_by = c.addr.phone;
    Node change("description", {{"id", id}});
    if (remove) {
      change.content = binary::Children{Node("delete", {}, binary::Children{})};
    } else {
      change.content = binary::Children{Node("body", {}, to_bytes(g->description))};
    }
    return save_and_notify(change);
  }
  for (const char* tag : {"announcement", "not_announcement", "locked", "unlocked"}) {
    if (!iq.child(tag)) continue;
    if (!admin) return error_for(iq, 401, "not-authorized");
    const std::string t(tag);
    bool& flag = t.find("announcement") != std::string::npos ? g->announce : g->locked;
    const bool on = t == "announcement" || t == "locked";
    if (flag == on) return result_for(iq);  // unchanged: nothing to announce
    flag = on;
    Node change(t, {});
    if (t.find("announcement") != std::string::npos) change.set_attr("v_id", std::to_string(now));
    return save_and_notify(change);
  }
  if (iq.child("invite")) {
    if (!admin) return error_for(iq, 401, "not-authorized");
    const bool revoke = iq.attr_or("type", "") == "set";
    if (revoke && !g->invite.empty()) state_.revoke_invite(g->invite);
    if (revoke || g->invite.empty()) {
      g->invite = new_invite_code();
      Group copy = *g;
      (void)state_.save_group(copy);
    }
    Node r = result_for(iq);
    r.content = binary::Children{Node("invite", {{"code", g->invite}})};
    return r;
  }
  return error_for(iq, 501, "feature-not-implemented");
}

}  // namespace wa::testserver
