#include "wa/message/group.hpp"

#include <charconv>

namespace wa::message {

namespace {

Status check_iq(const binary::Node& iq, const char* what) {
  if (iq.tag != "iq") return fail("bad_group", "not an iq");
  if (iq.attr_or("type", "") == "error") {
    const binary::Node* e = iq.child("error");
    return fail("iq_error:" + std::string(e ? e->attr_or("code", "?") : "?"), std::string(what) + " failed");
  }
  return {};
}

binary::Node group_iq(std::string to, const char* type, std::string_view iq_id, binary::Node child) {
  binary::Children c;
  c.push_back(std::move(child));
  return binary::Node("iq", binary::Attrs{{"type", type}, {"xmlns", "w:g2"}, {"to", std::move(to)}, {"id", std::string(iq_id)}},
                      std::move(c));
}

// A <participant jid [phone_number|lid] [type]/> as a member; nullopt for a
// JID that is not a user.
std::optional<GroupMember> member_of(const binary::Node& p) {
  auto j = binary::Jid::parse(p.attr_or("jid", ""));
  if (!j || !j->is_user()) return std::nullopt;
  GroupMember m{j->to_non_ad(), std::string(p.attr_or("type", "")), std::nullopt};
  for (const char* alt_attr : {"phone_number", "lid"}) {
    auto alt = binary::Jid::parse(p.attr_or(alt_attr, ""));
    if (alt && alt->is_user() && alt->is_pn() != j->is_pn()) m.alt = alt->to_non_ad();
  }
  return m;
}

std::string chars_of(const binary::Node* n) {
  if (!n) return {};
  auto c = n->content_chars();
  return c ? std::string(*c) : std::string();
}

binary::Children participant_nodes(std::span<const binary::Jid> participants, const ParticipantExtras& extras) {
  binary::Children c;
  for (const auto& p : participants) {
    binary::Node n("participant", binary::Attrs{{"jid", p.to_non_ad().str()}});
    if (extras) {
      ParticipantExtra x = extras(p);
      if (p.is_lid() && x.phone_number && x.phone_number->is_pn())
        n.set_attr("phone_number", x.phone_number->to_non_ad().str());
      if (x.privacy && !x.privacy->empty())
        n.content = binary::Children{binary::Node("privacy", binary::Attrs{}, std::move(*x.privacy))};
    }
    c.push_back(std::move(n));
  }
  return c;
}

}  // namespace

binary::Node build_group_info_query(const binary::Jid& group, std::string_view iq_id) {
  binary::Children c;
  c.emplace_back("query", binary::Attrs{{"request", "interactive"}});
  return binary::Node("iq",
                      binary::Attrs{{"type", "get"}, {"xmlns", "w:g2"}, {"to", group.to_non_ad().str()},
                                    {"id", std::string(iq_id)}},
                      std::move(c));
}

Result<GroupInfo> parse_group_info(const binary::Node& iq) {
  WA_TRY(check_iq(iq, "group query"));
  const binary::Node* g = iq.child("group");
  if (!g) return fail("bad_group", "group response without <group>");
  std::string id(g->attr_or("id", ""));
  if (id.find('@') == std::string::npos) id += "@g.us";  // servers may send the bare id
  auto gid = binary::Jid::parse(id);
  if (!gid || !gid->is_group()) return fail("bad_group", "group response with an invalid id");
  GroupInfo info;
  info.id = std::move(*gid);
  info.subject = std::string(g->attr_or("subject", ""));
  info.creator = std::string(g->attr_or("creator", ""));
  info.creator_pn = std::string(g->attr_or("creator_pn", ""));
  info.addressing_mode = std::string(g->attr_or("addressing_mode", ""));
  if (const binary::Node* d = g->child("description")) {
    info.description = chars_of(d->child("body"));
    info.description_id = std::string(d->attr_or("id", ""));
  }
  info.announce = g->child("announcement") != nullptr;
  info.locked = g->child("locked") != nullptr;
  for (const binary::Node* p : g->children("participant")) {
    auto j = binary::Jid::parse(p->attr_or("jid", ""));
    if (!j || !j->is_user()) continue;
    info.participants.push_back(j->to_non_ad());
    GroupMember member{j->to_non_ad(), std::string(p->attr_or("type", "")), std::nullopt};
    for (const char* alt_attr : {"phone_number", "lid"}) {
      auto alt = binary::Jid::parse(p->attr_or(alt_attr, ""));
      if (!alt) continue;
      if (j->is_lid() && alt->is_pn()) info.mappings.push_back({alt->user, j->user});
      if (j->is_pn() && alt->is_lid()) info.mappings.push_back({j->user, alt->user});
      if (alt->is_pn() != j->is_pn()) member.alt = alt->to_non_ad();
    }
    info.members.push_back(std::move(member));
  }
  return info;
}

binary::Node build_group_create(std::string_view subject, std::span<const binary::Jid> participants,
                                std::string_view key, std::string_view iq_id, const ParticipantExtras& extras) {
  binary::Children c;
  c.emplace_back("create", binary::Attrs{{"subject", std::string(subject)}, {"key", std::string(key)}},
                 participant_nodes(participants, extras));
  // "@g.us" alone addresses the group service.
  return binary::Node("iq",
                      binary::Attrs{{"type", "set"}, {"xmlns", "w:g2"}, {"to", "@g.us"}, {"id", std::string(iq_id)}},
                      std::move(c));
}

const char* to_string(ParticipantAction a) noexcept {
  switch (a) {
    case ParticipantAction::add: return "add";
    case ParticipantAction::remove: return "remove";
    case ParticipantAction::promote: return "promote";
    case ParticipantAction::demote: return "demote";
  }
  return "add";
}

binary::Node build_participants_change(const binary::Jid& group, ParticipantAction action,
                                       std::span<const binary::Jid> participants, std::string_view iq_id,
                                       const ParticipantExtras& extras) {
  binary::Children c;
  // Tokens and numbers go with an add; a removal names the JIDs only.
  c.emplace_back(to_string(action), binary::Attrs{},
                 participant_nodes(participants, action == ParticipantAction::add ? extras : ParticipantExtras{}));
  return binary::Node("iq",
                      binary::Attrs{{"type", "set"}, {"xmlns", "w:g2"}, {"to", group.to_non_ad().str()},
                                    {"id", std::string(iq_id)}},
                      std::move(c));
}

Result<std::vector<ParticipantResult>> parse_participants_change(const binary::Node& iq, ParticipantAction action,
                                                                 std::span<const binary::Jid> requested) {
  WA_TRY(check_iq(iq, "participant change"));
  const binary::Node* a = iq.child(to_string(action));
  if (!a) return fail("bad_group", std::string("answer without <") + to_string(action) + ">");
  std::vector<ParticipantResult> out;
  for (const auto& r : requested) {
    const std::string want = r.to_non_ad().str();
    ParticipantResult pr{want, "404"};
    for (const binary::Node* p : a->children("participant")) {
      // A LID group answers with the LID and the number we asked for beside it.
      auto j = binary::Jid::parse(p->attr_or("jid", ""));
      auto alt = binary::Jid::parse(p->attr_or(j && j->is_lid() ? "phone_number" : "lid", ""));
      if (!((j && j->to_non_ad().str() == want) || (alt && alt->to_non_ad().str() == want))) continue;
      pr.status = std::string(p->attr_or("error", "200"));
      break;
    }
    out.push_back(std::move(pr));
  }
  return out;
}

Status check_group_result(const binary::Node& iq, const char* what) { return check_iq(iq, what); }

binary::Node build_group_subject(const binary::Jid& group, std::string_view subject, std::string_view iq_id) {
  return group_iq(group.to_non_ad().str(), "set", iq_id, binary::Node("subject", binary::Attrs{}, to_bytes(subject)));
}

binary::Node build_group_description(const binary::Jid& group, std::string_view text, std::string_view new_id,
                                     std::string_view prev, std::string_view iq_id) {
  binary::Node d("description", binary::Attrs{{"id", std::string(new_id)}});
  if (!prev.empty()) d.set_attr("prev", std::string(prev));
  if (text.empty()) {
    d.set_attr("delete", "true");
  } else {
    d.content = binary::Children{binary::Node("body", binary::Attrs{}, to_bytes(text))};
  }
  return group_iq(group.to_non_ad().str(), "set", iq_id, std::move(d));
}

binary::Node build_group_leave(const binary::Jid& group, std::string_view iq_id) {
  binary::Children c;
  c.emplace_back("group", binary::Attrs{{"id", group.to_non_ad().str()}});
  return group_iq("@g.us", "set", iq_id, binary::Node("leave", binary::Attrs{}, std::move(c)));
}

const char* setting_tag(GroupSetting s, bool on) noexcept {
  if (s == GroupSetting::announce) return on ? "announcement" : "not_announcement";
  return on ? "locked" : "unlocked";
}

binary::Node build_group_setting(const binary::Jid& group, GroupSetting s, bool on, std::string_view iq_id) {
  return group_iq(group.to_non_ad().str(), "set", iq_id, binary::Node(setting_tag(s, on), binary::Attrs{}, binary::Children{}));
}

binary::Node build_invite_code_query(const binary::Jid& group, bool revoke, std::string_view iq_id) {
  return group_iq(group.to_non_ad().str(), revoke ? "set" : "get", iq_id,
                  binary::Node("invite", binary::Attrs{}, binary::Children{}));
}

Result<std::string> parse_invite_code(const binary::Node& iq) {
  WA_TRY(check_iq(iq, "invite code"));
  const binary::Node* inv = iq.child("invite");
  std::string code(inv ? inv->attr_or("code", "") : "");
  if (code.empty()) return fail("bad_group", "invite answer without a code");
  return code;
}

std::optional<std::string> invite_code_from(std::string_view s) {
  if (s.starts_with(kInviteLinkPrefix)) s.remove_prefix(kInviteLinkPrefix.size());
  if (auto q = s.find_first_of("?#"); q != std::string_view::npos) s = s.substr(0, q);
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  // Codes are URL-safe base64-like tokens; anything else is not one.
  if (s.empty() || s.size() > 64) return std::nullopt;
  for (char ch : s)
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
      return std::nullopt;
  return std::string(s);
}

binary::Node build_invite_join(std::string_view code, std::string_view iq_id) {
  return group_iq("@g.us", "set", iq_id, binary::Node("invite", binary::Attrs{{"code", std::string(code)}}, binary::Children{}));
}

Result<binary::Jid> parse_invite_join(const binary::Node& iq) {
  WA_TRY(check_iq(iq, "join by invite"));
  const binary::Node* g = iq.child("group");
  std::string id(g ? g->attr_or("jid", "") : "");
  if (id.empty() && g) id = std::string(g->attr_or("id", ""));
  if (!id.empty() && id.find('@') == std::string::npos) id += "@g.us";
  auto gid = binary::Jid::parse(id);
  if (!gid || !gid->is_group()) return fail("bad_group", "join answer without a group");
  return gid->to_non_ad();
}

Result<GroupNotification> parse_group_notification(const binary::Node& n) {
  if (n.tag != "notification") return fail("bad_group", "not a notification");
  auto from = binary::Jid::parse(n.attr_or("from", ""));
  if (!from || !from->is_group()) return fail("bad_group", "group notification not from a group");
  GroupNotification out;
  out.group = from->to_non_ad();
  out.id = std::string(n.attr_or("id", ""));
  if (auto a = binary::Jid::parse(n.attr_or("participant", "")); a && a->is_user()) out.author = a->to_non_ad();
  for (const char* alt_attr : {"participant_pn", "participant_lid"})
    if (auto a = binary::Jid::parse(n.attr_or(alt_attr, "")); a && a->is_user() && out.author && a->is_pn() != out.author->is_pn())
      out.author_alt = a->to_non_ad();
  const std::string_view t = n.attr_or("t", "");
  int64_t tv = 0;
  if (auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), tv); ec == std::errc() && p == t.data() + t.size())
    out.t = tv;
  for (const auto& c : n.children()) {
    GroupChange ch;
    ch.action = c.tag;
    if (c.tag == "add" || c.tag == "remove" || c.tag == "leave" || c.tag == "promote" || c.tag == "demote") {
      for (const binary::Node* p : c.children("participant"))
        if (auto m = member_of(*p)) ch.participants.push_back(std::move(*m));
      if (c.tag == "add") ch.reason = std::string(c.attr_or("reason", ""));
      // A member who removed themselves left (Baileys reads it so too).
      if (c.tag == "remove" && ch.participants.size() == 1 && out.author) {
        const auto& who = ch.participants.front();
        if (who.jid == *out.author || (who.alt && *who.alt == *out.author) ||
            (out.author_alt && (who.jid == *out.author_alt)))
          ch.action = "leave";
      }
    } else if (c.tag == "subject") {
      ch.subject = std::string(c.attr_or("subject", ""));
    } else if (c.tag == "description") {
      ch.description = c.child("delete") || c.attr_or("delete", "") == "true" ? std::string() : chars_of(c.child("body"));
    } else if (c.tag == "announcement" || c.tag == "not_announcement") {
      ch.action = "announce";
      ch.on = c.tag == "announcement";
    } else if (c.tag == "locked" || c.tag == "unlocked") {
      ch.action = "locked";
      ch.on = c.tag == "locked";
    } else if (c.tag == "invite") {
      ch.code = std::string(c.attr_or("code", ""));
    } else if (c.tag == "create") {
      if (const binary::Node* g = c.child("group")) {
        ch.subject = std::string(g->attr_or("subject", ""));
        for (const binary::Node* p : g->children("participant"))
          if (auto m = member_of(*p)) ch.participants.push_back(std::move(*m));
      }
    }
    out.changes.push_back(std::move(ch));
  }
  return out;
}

}  // namespace wa::message
