// Group administration on the wire: the IQs Baileys' groups.js sends
// (subject, description, leave, settings, invite links), their answers, and
// the w:gp2 notifications as Baileys and whatsmeow read them — hostile ones
// included (never a throw).
#include <doctest/doctest.h>

#include "wa/message/group.hpp"

using namespace wa;
using binary::Jid;
using binary::Node;

namespace {
Jid J(const char* s) { return Jid::parse(s).value(); }
std::string chars(const Node* n) {
  if (!n) return "<none>";
  auto c = n->content_chars();
  return c ? std::string(*c) : "<no content>";
}
Node iq_result(binary::Children c) { return Node("iq", {{"type", "result"}, {"id", "1"}}, std::move(c)); }
Node iq_error(const char* code) {
  return Node("iq", {{"type", "error"}, {"id", "1"}}, binary::Children{Node("error", {{"code", code}}, binary::Children{})});
}
}  // namespace

TEST_CASE("group admin IQs: subject, description, leave, settings, roles, invite links") {
  const Jid g = J("123-456@g.us");
  Node s = message::build_group_subject(g, "new name", "q1");
  CHECK(s.attr_or("xmlns", "") == "w:g2");
  CHECK(s.attr_or("type", "") == "set");
  CHECK(s.attr_or("to", "") == "123-456@g.us");
  CHECK(chars(s.child("subject")) == "new name");

  Node d = message::build_group_description(g, "rules", "NEW", "OLD", "q2");
  const Node* dn = d.child("description");
  REQUIRE(dn != nullptr);
  CHECK(dn->attr_or("id", "") == "NEW");
  CHECK(dn->attr_or("prev", "") == "OLD");
  CHECK_FALSE(dn->has_attr("delete"));
  CHECK(chars(dn->child("body")) == "rules");
  Node del = message::build_group_description(g, "", "NEW", "", "q3");
  CHECK(del.child("description")->attr_or("delete", "") == "true");
  CHECK_FALSE(del.child("description")->has_attr("prev"));
  CHECK(del.child("description")->child("body") == nullptr);

  Node l = message::build_group_leave(g, "q4");
  CHECK(l.attr_or("to", "") == "@g.us");
  REQUIRE(l.child("leave") != nullptr);
  CHECK(l.child("leave")->child("group")->attr_or("id", "") == "123-456@g.us");

  CHECK(message::build_group_setting(g, message::GroupSetting::announce, true, "").child("announcement"));
  CHECK(message::build_group_setting(g, message::GroupSetting::announce, false, "").child("not_announcement"));
  CHECK(message::build_group_setting(g, message::GroupSetting::locked, true, "").child("locked"));
  CHECK(message::build_group_setting(g, message::GroupSetting::locked, false, "").child("unlocked"));

  std::vector<Jid> who{J("155:3@s.whatsapp.net")};
  Node p = message::build_participants_change(g, message::ParticipantAction::promote, who, "");
  REQUIRE(p.child("promote") != nullptr);
  CHECK(p.child("promote")->child("participant")->attr_or("jid", "") == "155@s.whatsapp.net");
  auto res = message::parse_participants_change(
      iq_result({Node("demote", {}, binary::Children{Node("participant", {{"jid", "155@s.whatsapp.net"}, {"error", "404"}})})}),
      message::ParticipantAction::demote, who);
  REQUIRE(res.has_value());
  CHECK(res->at(0).status == "404");

  CHECK(message::build_invite_code_query(g, false, "").attr_or("type", "") == "get");
  CHECK(message::build_invite_code_query(g, true, "").attr_or("type", "") == "set");
  CHECK(message::parse_invite_code(iq_result({Node("invite", {{"code", "AbC123"}})})).value() == "AbC123");
  CHECK(message::parse_invite_code(iq_result({})).error().code == "bad_group");
  CHECK(message::parse_invite_code(iq_error("401")).error().code == "iq_error:401");

  Node j = message::build_invite_join("AbC123", "");
  CHECK(j.attr_or("to", "") == "@g.us");
  CHECK(j.child("invite")->attr_or("code", "") == "AbC123");
  CHECK(message::parse_invite_join(iq_result({Node("group", {{"jid", "123-456@g.us"}})})).value() == g);
  CHECK(message::parse_invite_join(iq_result({Node("group", {{"jid", "155@s.whatsapp.net"}})})).error().code == "bad_group");
  CHECK(message::parse_invite_join(iq_error("410")).error().code == "iq_error:410");
  CHECK(message::check_group_result(iq_error("401"), "x").error().code == "iq_error:401");
  CHECK(message::check_group_result(iq_result({}), "x").has_value());
}

TEST_CASE("invite codes: bare, as a link, with a query - junk refused") {
  CHECK(message::invite_code_from("AbC-12_x") == "AbC-12_x");
  CHECK(message::invite_code_from("https://chat.whatsapp.com/AbC123") == "AbC123");
  CHECK(message::invite_code_from("https://chat.whatsapp.com/AbC123/?utm=1") == "AbC123");
  CHECK_FALSE(message::invite_code_from(""));
  CHECK_FALSE(message::invite_code_from("https://chat.whatsapp.com/"));
  CHECK_FALSE(message::invite_code_from("https://evil.example/AbC"));
  CHECK_FALSE(message::invite_code_from("a b"));
  CHECK_FALSE(message::invite_code_from(std::string(65, 'a')));
}

TEST_CASE("group info: description, announce and locked") {
  Node g("group", {{"id", "123-456"}, {"subject", "s"}},
         binary::Children{Node("participant", {{"jid", "155@s.whatsapp.net"}, {"type", "superadmin"}}),
                          Node("description", {{"id", "D1"}, {"t", "5"}}, binary::Children{Node("body", {}, std::string("hi"))}),
                          Node("announcement", {}, binary::Children{}), Node("locked", {}, binary::Children{})});
  auto info = message::parse_group_info(iq_result({g}));
  REQUIRE(info.has_value());
  CHECK(info->description == "hi");
  CHECK(info->description_id == "D1");
  CHECK(info->announce);
  CHECK(info->locked);
}

TEST_CASE("w:gp2 notifications: every change Baileys and whatsmeow read, a leave as a self-remove") {
  auto note = [](binary::Children c, binary::Attrs extra = {}) {
    binary::Attrs a{{"from", "123-456@g.us"}, {"type", "w:gp2"}, {"id", "n1"}, {"t", "1700000000"},
                    {"participant", "900@lid"}, {"participant_pn", "155@s.whatsapp.net"}};
    for (auto& x : extra) a.push_back(std::move(x));
    return Node("notification", std::move(a), std::move(c));
  };
  auto part = [](const char* jid, const char* pn) {
    return Node("participant", {{"jid", jid}, {"phone_number", pn}}, binary::Children{});
  };
  auto n = message::parse_group_notification(note({Node("add", {{"reason", "invite"}}, binary::Children{part("901@lid", "156@s.whatsapp.net")})}));
  REQUIRE(n.has_value());
  CHECK(n->group == J("123-456@g.us"));
  CHECK(n->id == "n1");
  CHECK(n->t == 1700000000);
  CHECK(*n->author == J("900@lid"));
  CHECK(*n->author_alt == J("155@s.whatsapp.net"));
  REQUIRE(n->changes.size() == 1);
  CHECK(n->changes[0].action == "add");
  CHECK(n->changes[0].reason == "invite");
  REQUIRE(n->changes[0].participants.size() == 1);
  CHECK(n->changes[0].participants[0].jid == J("901@lid"));
  CHECK(*n->changes[0].participants[0].alt == J("156@s.whatsapp.net"));

  // A remove of the author alone is a leave (by LID or by number); of someone else a remove.
  CHECK(message::parse_group_notification(note({Node("remove", {}, binary::Children{part("900@lid", "155@s.whatsapp.net")})}))
            ->changes[0].action == "leave");
  CHECK(message::parse_group_notification(note({Node("remove", {}, binary::Children{Node("participant", {{"jid", "155@s.whatsapp.net"}})})}))
            ->changes[0].action == "leave");
  CHECK(message::parse_group_notification(note({Node("remove", {}, binary::Children{part("901@lid", "156@s.whatsapp.net")})}))
            ->changes[0].action == "remove");
  CHECK(message::parse_group_notification(note({Node("leave", {}, binary::Children{part("900@lid", "155@s.whatsapp.net")})}))
            ->changes[0].action == "leave");

  auto subj = message::parse_group_notification(note({Node("subject", {{"subject", "new"}, {"s_t", "1"}})}));
  CHECK(*subj->changes[0].subject == "new");
  auto desc = message::parse_group_notification(
      note({Node("description", {{"id", "D"}}, binary::Children{Node("body", {}, to_bytes("text"))})}));
  CHECK(*desc->changes[0].description == "text");
  auto gone = message::parse_group_notification(
      note({Node("description", {{"id", "D"}}, binary::Children{Node("delete", {}, binary::Children{})})}));
  CHECK(*gone->changes[0].description == "");
  struct Setting {
    const char* tag;
    const char* action;
    bool on;
  };
  for (const Setting& x : {Setting{"announcement", "announce", true}, Setting{"not_announcement", "announce", false},
                           Setting{"locked", "locked", true}, Setting{"unlocked", "locked", false}}) {
    auto s = message::parse_group_notification(note({Node(x.tag, {{"v_id", "1"}}, binary::Children{})}));
    REQUIRE(s.has_value());
    CHECK(s->changes[0].action == x.action);
    CHECK(*s->changes[0].on == x.on);
  }
  CHECK(message::parse_group_notification(note({Node("invite", {{"code", "XYZ"}})}))->changes[0].code == "XYZ");
  // Unknown changes keep their tag; nothing else is guessed.
  auto eph = message::parse_group_notification(note({Node("ephemeral", {{"expiration", "86400"}})}));
  CHECK(eph->changes[0].action == "ephemeral");
  CHECK_FALSE(eph->changes[0].on.has_value());

  // Hostile or odd input: refused or skipped, never thrown.
  CHECK(message::parse_group_notification(Node("notification", {{"from", "155@s.whatsapp.net"}}, binary::Children{}))
            .error().code == "bad_group");
  CHECK(message::parse_group_notification(Node("message", {{"from", "1-2@g.us"}}, binary::Children{})).error().code ==
        "bad_group");
  auto odd = message::parse_group_notification(Node(
      "notification", {{"from", "1-2@g.us"}, {"t", "12x"}, {"participant", "not a jid"}},
      binary::Children{Node("add", {}, binary::Children{Node("participant", {{"jid", "1-2@g.us"}}, binary::Children{}),
                                                        Node("participant", {}, to_bytes("junk"))}),
                       Node("subject", {}, to_bytes("no attrs")), Node("description", {}, binary::Children{})}));
  REQUIRE(odd.has_value());
  CHECK(odd->t == 0);
  CHECK_FALSE(odd->author.has_value());
  REQUIRE(odd->changes.size() == 3);
  CHECK(odd->changes[0].participants.empty());
  CHECK(*odd->changes[1].subject == "");
  CHECK(*odd->changes[2].description == "");
}
