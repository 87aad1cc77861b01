// Builders and parsers for groups (create / participants), read receipts
// and chat state: the exact nodes Baileys sends, and every refusal.
#include <doctest/doctest.h>

#include "wa/message/chat.hpp"
#include "wa/message/group.hpp"

using namespace wa;
using binary::Jid;
using binary::Node;

namespace {
Jid J(const char* s) { return Jid::parse(s).value(); }
}  // namespace

TEST_CASE("read receipt: first id in the attrs, the rest in a list, participant only in groups") {
  std::vector<std::string> ids{"A1", "A2", "A3"};
  auto r = message::build_read_receipt(J("111@s.whatsapp.net"), J("999:2@s.whatsapp.net"), ids, 1700000000);
  REQUIRE(r.has_value());
  CHECK(r->tag == "receipt");
  CHECK(r->attr_or("id", "") == "A1");
  CHECK(r->attr_or("to", "") == "111@s.whatsapp.net");
  CHECK(r->attr_or("type", "") == "read");
  CHECK(r->attr_or("t", "") == "1700000000");
  CHECK_FALSE(r->has_attr("participant"));
  const Node* list = r->child("list");
  REQUIRE(list != nullptr);
  auto items = list->children("item");
  REQUIRE(items.size() == 2);
  CHECK(items[0]->attr_or("id", "") == "A2");
  CHECK(items[1]->attr_or("id", "") == "A3");

  std::vector<std::string> one{"G1"};
  auto g = message::build_read_receipt(J("111-222@g.us"), J("999:2@s.whatsapp.net"), one, 1);
  REQUIRE(g.has_value());
  CHECK(g->attr_or("participant", "") == "999@s.whatsapp.net");
  CHECK(g->child("list") == nullptr);

  CHECK(message::build_read_receipt(J("111-222@g.us"), std::nullopt, one, 1).error().code == "bad_request");
  CHECK(message::build_read_receipt(J("111@s.whatsapp.net"), std::nullopt, {}, 1).error().code == "bad_request");
  std::vector<std::string> empty_id{""};
  CHECK(message::build_read_receipt(J("111@s.whatsapp.net"), std::nullopt, empty_id, 1).error().code == "bad_request");
  std::vector<std::string> many(message::kMaxReadIds + 1, "X");
  CHECK(message::build_read_receipt(J("111@s.whatsapp.net"), std::nullopt, many, 1).error().code == "bad_request");
}

TEST_CASE("chat state: composing / paused out, and incoming 1:1, group and bad stanzas") {
  Node on = message::build_chatstate(J("111:3@s.whatsapp.net"), J("222@s.whatsapp.net"), message::ChatState::composing);
  CHECK(on.tag == "chatstate");
  CHECK(on.attr_or("from", "") == "111@s.whatsapp.net");
  CHECK(on.attr_or("to", "") == "222@s.whatsapp.net");
  REQUIRE(on.children().size() == 1);
  CHECK(on.children()[0].tag == "composing");
  Node off = message::build_chatstate(J("111:3@s.whatsapp.net"), J("1-2@g.us"), message::ChatState::paused);
  CHECK(off.children()[0].tag == "paused");

  auto one = message::parse_chatstate(Node("chatstate", {{"from", "222@s.whatsapp.net"}}, binary::Children{Node("composing")}));
  REQUIRE(one.has_value());
  CHECK(one->chat == "222@s.whatsapp.net");
  CHECK(one->sender == "222@s.whatsapp.net");
  CHECK(one->state == "composing");
  auto grp = message::parse_chatstate(Node("chatstate", {{"from", "1-2@g.us"}, {"participant", "333:1@s.whatsapp.net"}},
                                           binary::Children{Node("composing", {{"media", "audio"}})}));
  REQUIRE(grp.has_value());
  CHECK(grp->chat == "1-2@g.us");
  CHECK(grp->sender == "333@s.whatsapp.net");
  CHECK(grp->state == "recording");
  CHECK(message::parse_chatstate(Node("chatstate", {{"from", "1-2@g.us"}}, binary::Children{Node("paused")}))
            .error().code == "bad_stanza");
  CHECK(message::parse_chatstate(Node("chatstate", {{"from", "222@s.whatsapp.net"}})).error().code == "bad_stanza");
  CHECK(message::parse_chatstate(Node("chatstate", {{"from", "222@s.whatsapp.net"}}, binary::Children{Node("dancing")}))
            .error().code == "bad_stanza");
  CHECK(message::parse_chatstate(Node("presence", {{"from", "222@s.whatsapp.net"}})).error().code == "bad_stanza");
}

TEST_CASE("group create and participant changes: request shape and per-participant results") {
  std::vector<Jid> users{J("222@s.whatsapp.net"), J("333:4@s.whatsapp.net")};
  Node create = message::build_group_create("team", users, "KEY1", "iq1");
  CHECK(create.attr_or("to", "") == "@g.us");
  CHECK(create.attr_or("type", "") == "set");
  CHECK(create.attr_or("xmlns", "") == "w:g2");
  const Node* c = create.child("create");
  REQUIRE(c != nullptr);
  CHECK(c->attr_or("subject", "") == "team");
  CHECK(c->attr_or("key", "") == "KEY1");
  auto parts = c->children("participant");
  REQUIRE(parts.size() == 2);
  CHECK(parts[1]->attr_or("jid", "") == "333@s.whatsapp.net");  // devices become users

  Node add = message::build_participants_change(J("1-2@g.us"), message::ParticipantAction::add, users, "iq2");
  CHECK(add.attr_or("to", "") == "1-2@g.us");
  REQUIRE(add.child("add") != nullptr);
  CHECK(add.child("add")->children("participant").size() == 2);

  // The server lists 222 with an error and omits 333.
  Node answer("iq", {{"type", "result"}, {"id", "iq2"}},
              binary::Children{Node("add", {}, binary::Children{Node("participant", {{"jid", "222@s.whatsapp.net"}, {"error", "409"}})})});
  auto res = message::parse_participants_change(answer, message::ParticipantAction::add, users);
  REQUIRE(res.has_value());
  REQUIRE(res->size() == 2);
  CHECK((*res)[0].status == "409");
  CHECK((*res)[1].jid == "333@s.whatsapp.net");
  CHECK((*res)[1].status == "404");
  Node ok("iq", {{"type", "result"}},
          binary::Children{Node("remove", {}, binary::Children{Node("participant", {{"jid", "222@s.whatsapp.net"}})})});
  std::vector<Jid> one{J("222@s.whatsapp.net")};
  CHECK(message::parse_participants_change(ok, message::ParticipantAction::remove, one)->at(0).status == "200");
  CHECK(message::parse_participants_change(ok, message::ParticipantAction::add, one).error().code == "bad_group");
  Node refused("iq", {{"type", "error"}}, binary::Children{Node("error", {{"code", "403"}})});
  CHECK(message::parse_participants_change(refused, message::ParticipantAction::add, one).error().code == "iq_error:403");
}

TEST_CASE("group info: subject, creator and roles") {
  Node g("group", {{"id", "1-2"}, {"subject", "team"}, {"creator", "111@s.whatsapp.net"}, {"addressing_mode", "pn"}},
         binary::Children{Node("participant", {{"jid", "111@s.whatsapp.net"}, {"type", "superadmin"}}),
                          Node("participant", {{"jid", "222@s.whatsapp.net"}}),
                          Node("participant", {{"jid", "not a jid"}})});
  auto info = message::parse_group_info(Node("iq", {{"type", "result"}}, binary::Children{g}));
  REQUIRE(info.has_value());
  CHECK(info->id.str() == "1-2@g.us");
  CHECK(info->subject == "team");
  CHECK(info->creator == "111@s.whatsapp.net");
  REQUIRE(info->members.size() == 2);
  CHECK(info->members[0].admin());
  CHECK_FALSE(info->members[1].admin());
  CHECK(info->participants.size() == 2);
}

TEST_CASE("group create and add carry a LID member's phone number and the privacy token it gave us, a removal neither") {
  std::vector<Jid> users{J("9001@lid"), J("222@s.whatsapp.net")};
  message::ParticipantExtras extras = [](const Jid& p) {
    message::ParticipantExtra x;
    if (p.is_lid()) {
      x.phone_number = J("5511@s.whatsapp.net");
      x.privacy = wa::Bytes{7, 7};
    }
    return x;
  };
  for (const Node& iq : {message::build_group_create("team", users, "K", "i", extras),
                         message::build_participants_change(J("1-2@g.us"), message::ParticipantAction::add, users, "i",
                                                            extras)}) {
    const Node* list = iq.child("create") ? iq.child("create") : iq.child("add");
    REQUIRE(list != nullptr);
    auto parts = list->children("participant");
    REQUIRE(parts.size() == 2);
    CHECK(parts[0]->attr_or("phone_number", "") == "5511@s.whatsapp.net");
    REQUIRE(parts[0]->child("privacy") != nullptr);
    CHECK(*parts[0]->child("privacy")->bytes() == wa::Bytes{7, 7});
    CHECK_FALSE(parts[1]->has_attr("phone_number"));
    CHECK(parts[1]->child("privacy") == nullptr);
  }
  Node rm = message::build_participants_change(J("1-2@g.us"), message::ParticipantAction::remove, users, "i", extras);
  for (const Node* p : rm.child("remove")->children("participant")) {
    CHECK_FALSE(p->has_attr("phone_number"));
    CHECK(p->child("privacy") == nullptr);
  }
}
