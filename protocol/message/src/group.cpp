#include "wa/message/group.hpp"

namespace wa::message {

binary::Node build_group_info_query(const binary::Jid& group, std::string_view iq_id) {
  binary::Children c;
  c.emplace_back("query", binary::Attrs{{"request", "interactive"}});
  return binary::Node("iq",
                      binary::Attrs{{"type", "get"}, {"xmlns", "w:g2"}, {"to", group.to_non_ad().str()},
                                    {"id", std::string(iq_id)}},
                      std::move(c));
}

Result<GroupInfo> parse_group_info(const binary::Node& iq) {
  if (iq.tag != "iq") return fail("bad_group", "not an iq");
  if (iq.attr_or("type", "") == "error") {
    const binary::Node* e = iq.child("error");
    return fail("iq_error:" + std::string(e ? e->attr_or("code", "?") : "?"), "group query failed");
  }
  const binary::Node* g = iq.child("group");
  if (!g) return fail("bad_group", "group response without <group>");
  std::string id(g->attr_or("id", ""));
  if (id.find('@') == std::string::npos) id += "@g.us";  // servers may send the bare id
  auto gid = binary::Jid::parse(id);
  if (!gid || !gid->is_group()) return fail("bad_group", "group response with an invalid id");
  GroupInfo info;
  info.id = std::move(*gid);
  info.addressing_mode = std::string(g->attr_or("addressing_mode", ""));
  for (const binary::Node* p : g->children("participant")) {
    auto j = binary::Jid::parse(p->attr_or("jid", ""));
    if (j && j->is_user()) info.participants.push_back(j->to_non_ad());
  }
  return info;
}

}  // namespace wa::message
