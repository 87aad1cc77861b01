#include "wa/message/contacts.hpp"

#include <charconv>

namespace wa::message {

using binary::Attrs;
using binary::Children;
using binary::Jid;
using binary::Node;

namespace {

constexpr const char* kServer = "@s.whatsapp.net";

Node iq(std::string_view xmlns, std::string_view type, Children c = {}) {
  return Node("iq", Attrs{{"xmlns", std::string(xmlns)}, {"type", std::string(type)}, {"to", kServer}}, std::move(c));
}

Status check_iq(const Node& n) {
  if (n.tag != "iq") return fail("bad_reply", "not an iq");
  if (n.attr_or("type", "") == "error") {
    const Node* e = n.child("error");
    return fail("iq_error:" + std::string(e ? e->attr_or("code", "?") : "?"), "the server refused the request");
  }
  return {};
}

std::optional<Jid> user_jid(std::string_view s) {
  auto j = Jid::parse(s);
  if (!j || !j->is_user()) return std::nullopt;
  return j->to_non_ad();
}

std::optional<int64_t> number(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// The <usync><list> of a usync answer.
Result<const Node*> usync_list(const Node& answer) {
  WA_TRY(check_iq(answer));
  const Node* us = answer.child("usync");
  const Node* list = us ? us->child("list") : nullptr;
  if (!list) return fail("bad_usync", "usync answer without <usync><list>");
  return list;
}

Node usync(std::string_view sid, Children query, Children users) {
  Node u("usync", Attrs{{"sid", std::string(sid)}, {"mode", "query"}, {"context", "interactive"}, {"last", "true"},
                        {"index", "0"}},
         Children{Node("query", {}, std::move(query)), Node("list", {}, std::move(users))});
  return iq("usync", "get", Children{std::move(u)});
}

}  // namespace

std::string phone_digits(std::string_view number) {
  if (auto at = number.find('@'); at != std::string_view::npos) {
    std::string_view server = number.substr(at + 1);
    if (server != "s.whatsapp.net" && server != "c.us") return {};
    number = number.substr(0, at);
  }
  std::string d;
  for (char ch : number) {
    if (ch >= '0' && ch <= '9') {
      d += ch;
    } else if (ch != '+' && ch != ' ' && ch != '-' && ch != '(' && ch != ')' && ch != '.') {
      return {};
    }
  }
  if (d.size() < 5 || d.size() > 20 || d[0] == '0') return {};
  return d;
}

Node build_contact_query(std::span<const std::string> digits, std::string_view sid) {
  Children users;
  for (const auto& d : digits)
    users.emplace_back("user", Attrs{}, Children{Node("contact", {}, std::string("+") + d)});
  return usync(sid, Children{Node("contact"), Node("lid")}, std::move(users));
}

Result<std::vector<ContactAnswer>> parse_contact_answer(const Node& answer) {
  auto list = usync_list(answer);
  if (!list) return Unexpected<Error>{list.error()};
  std::vector<ContactAnswer> out;
  for (const auto& u : (*list)->children()) {
    if (u.tag != "user") continue;
    ContactAnswer a;
    auto jid = user_jid(u.attr_or("jid", ""));
    auto pn_attr = user_jid(u.attr_or("pn_jid", ""));
    if (jid && jid->is_pn()) a.pn = jid;
    if (jid && jid->is_lid()) a.lid = jid;
    if (pn_attr && pn_attr->is_pn()) a.pn = pn_attr;
    if (const Node* l = u.child("lid")) {
      if (auto lid = user_jid(l->attr_or("val", "")); lid && lid->is_lid()) a.lid = lid;
    }
    const Node* c = u.child("contact");
    if (a.pn) {
      a.digits = a.pn->user;
    } else if (c && c->content_chars()) {
      a.digits = phone_digits(*c->content_chars());
    }
    if (a.digits.empty()) continue;
    a.exists = c && c->attr_or("type", "") == "in";
    if (!a.exists) a.lid.reset();  // a LID is only meaningful for a registered number
    if (a.exists && !a.pn) {
      if (auto pn = Jid::parse(a.digits + kServer)) a.pn = *pn;
    }
    out.push_back(std::move(a));
  }
  return out;
}

Node build_about_query(const Jid& user, std::string_view sid) {
  Children users;
  users.emplace_back("user", Attrs{{"jid", user.to_non_ad().str()}});
  return usync(sid, Children{Node("status")}, std::move(users));
}

Result<AboutAnswer> parse_about_answer(const Node& answer) {
  auto list = usync_list(answer);
  if (!list) return Unexpected<Error>{list.error()};
  AboutAnswer a;
  for (const auto& u : (*list)->children()) {
    if (u.tag != "user") continue;
    const Node* s = u.child("status");
    if (!s) continue;
    a.t = number(s->attr_or("t", "")).value_or(0);
    // code="401": hidden from us; no content: none set.
    if (s->has_attr("code")) return a;
    if (auto chars = s->content_chars()) a.text = std::string(*chars);
    return a;
  }
  return a;
}

Node build_about_set(std::string_view text) {
  return iq("status", "set", Children{Node("status", {}, std::string(text))});
}

Node build_picture_get(const Jid& target, bool full) {
  Node n = iq("w:profile:picture", "get",
              Children{Node("picture", Attrs{{"type", full ? "image" : "preview"}, {"query", "url"}})});
  n.set_attr("target", target.to_non_ad().str());
  return n;
}

Result<PictureAnswer> parse_picture_answer(const Node& answer) {
  if (answer.tag == "iq" && answer.attr_or("type", "") == "error") {
    const Node* e = answer.child("error");
    if (e && e->attr_or("code", "") == "404") return PictureAnswer{};
  }
  WA_TRY(check_iq(answer));
  const Node* p = answer.child("picture");
  if (!p) return fail("bad_reply", "picture answer without <picture>");
  if (p->attr_or("status", "") == "204" || p->attr_or("status", "") == "404") return PictureAnswer{};
  PictureAnswer a;
  a.url = std::string(p->attr_or("url", ""));
  a.id = std::string(p->attr_or("id", ""));
  a.type = std::string(p->attr_or("type", ""));
  a.direct_path = std::string(p->attr_or("direct_path", ""));
  if (a.url.empty()) return fail("bad_reply", "picture answer without a url");
  a.found = true;
  return a;
}

Node build_picture_set(ByteView jpeg) {
  if (jpeg.empty()) return iq("w:profile:picture", "set");
  return iq("w:profile:picture", "set",
            Children{Node("picture", Attrs{{"type", "image"}}, Bytes(jpeg.begin(), jpeg.end()))});
}

Node build_blocklist_get() { return iq("blocklist", "get"); }

Node build_blocklist_set(bool block, const Jid& lid, const std::optional<Jid>& pn) {
  Node item("item", Attrs{{"action", block ? "block" : "unblock"}, {"jid", lid.to_non_ad().str()}});
  if (block && pn) item.set_attr("pn_jid", pn->to_non_ad().str());
  return iq("blocklist", "set", Children{std::move(item)});
}

Result<std::vector<BlockedEntry>> parse_blocklist(const Node& answer) {
  WA_TRY(check_iq(answer));
  std::vector<BlockedEntry> out;
  const Node* list = answer.child("list");
  if (!list) return out;  // an empty list may come without <list>
  for (const auto& item : list->children()) {
    if (item.tag != "item") continue;
    auto j = user_jid(item.attr_or("jid", ""));
    if (!j) continue;
    BlockedEntry e{*j, user_jid(item.attr_or("pn_jid", ""))};
    out.push_back(std::move(e));
  }
  return out;
}

Node build_presence(bool available, std::string_view push_name) {
  Node n("presence", Attrs{{"type", available ? "available" : "unavailable"}});
  if (!push_name.empty()) n.set_attr("name", std::string(push_name));
  return n;
}

Node build_presence_subscribe(const Jid& to) {
  return Node("presence", Attrs{{"type", "subscribe"}, {"to", to.to_non_ad().str()}});
}

Result<Presence> parse_presence(const Node& stanza) {
  if (stanza.tag != "presence") return fail("bad_presence", "not a presence stanza");
  auto from = user_jid(stanza.attr_or("from", ""));
  if (!from) return fail("bad_presence", "presence without a user in 'from'");
  Presence p;
  p.from = *from;
  const std::string_view type = stanza.attr_or("type", "available");
  if (type != "available" && type != "unavailable") return fail("bad_presence", "presence of another type");
  p.available = type == "available";
  if (auto last = stanza.attr("last")) p.last_seen = number(*last);
  return p;
}

std::optional<PictureChange> parse_picture_notification(const Node& n) {
  for (const auto& c : n.children()) {
    if (c.tag != "set" && c.tag != "add" && c.tag != "delete") continue;
    PictureChange ch;
    ch.jid = std::string(c.attr_or("jid", n.attr_or("from", "")));
    if (!user_jid(ch.jid) && !(Jid::parse(ch.jid) && Jid::parse(ch.jid)->is_group())) return std::nullopt;
    ch.action = c.tag == "delete" ? "delete" : "set";
    ch.id = std::string(c.attr_or("id", ""));
    ch.author = std::string(c.attr_or("author", ""));
    return ch;
  }
  return std::nullopt;
}

std::optional<AboutChange> parse_about_notification(const Node& n) {
  const Node* set = n.child("set");
  auto from = user_jid(n.attr_or("from", ""));
  if (!set || !from) return std::nullopt;
  AboutChange ch;
  ch.jid = from->str();
  if (auto chars = set->content_chars()) ch.text = std::string(*chars);
  ch.t = number(n.attr_or("t", "")).value_or(0);
  return ch;
}

std::vector<BlocklistChange> parse_blocklist_notification(const Node& n) {
  std::vector<BlocklistChange> out;
  const Node* b = n.child("blocklist");
  if (!b) return out;
  for (const auto& item : b->children()) {
    if (item.tag != "item") continue;
    auto j = user_jid(item.attr_or("jid", ""));
    const std::string_view action = item.attr_or("action", b->attr_or("action", ""));
    if (!j || (action != "block" && action != "unblock")) continue;
    out.push_back({j->str(), std::string(action)});
  }
  return out;
}

Node build_logout(const Jid& own_device) {
  return iq("md", "set",
            Children{Node("remove-companion-device", Attrs{{"jid", own_device.str()}, {"reason", "user_initiated"}})});
}

}  // namespace wa::message
