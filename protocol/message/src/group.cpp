#include "wa/message/group.hpp"

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

const char* to_string(ParticipantAction a) noexcept { return a == ParticipantAction::add ? "add" : "remove"; }

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

}  // namespace wa::message
