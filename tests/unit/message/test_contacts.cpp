// The contact stanzas (wa/message/contacts.hpp): what we send, and how each
// answer and push is read, including the malformed ones (skipped or an
// error value, never an exception).
#include <doctest/doctest.h>

#include "wa/message/contacts.hpp"

using namespace wa;
using binary::Children;
using binary::Node;

namespace {

Node usync_answer(Children users) {
  return Node("iq", {{"type", "result"}},
              Children{Node("usync", {}, Children{Node("list", {}, std::move(users))})});
}

}  // namespace

TEST_CASE("contacts: phone numbers in the forms people write them") {
  CHECK(message::phone_digits("+1 (555) 123-4567") == "15551234567");
  CHECK(message::phone_digits("15551234567@s.whatsapp.net") == "15551234567");
  CHECK(message::phone_digits("15551234567@c.us") == "15551234567");
  CHECK(message::phone_digits("15551234567@lid").empty());
  CHECK(message::phone_digits("0155512345").empty());
  CHECK(message::phone_digits("1234").empty());
  CHECK(message::phone_digits("+1555abc4567").empty());
}

TEST_CASE("contacts: the number query, and both answer shapes read") {
  std::vector<std::string> nums{"15551234567", "15550000000"};
  Node q = message::build_contact_query(nums, "s1");
  CHECK(q.attr_or("xmlns", "") == "usync");
  const Node* us = q.child("usync");
  REQUIRE(us);
  CHECK(us->child("query")->child("contact"));
  CHECK(us->child("query")->child("lid"));
  auto users = us->child("list")->children("user");
  REQUIRE(users.size() == 2);
  CHECK(*users[0]->child("contact")->content_chars() == "+15551234567");

  // WhatsApp Web shape: jid=PN, <lid val>; and the lid addressing shape: jid=LID pn_jid=PN.
  auto r = message::parse_contact_answer(usync_answer(Children{
      Node("user", {{"jid", "15551234567@s.whatsapp.net"}},
           Children{Node("contact", {{"type", "in"}}), Node("lid", {{"val", "999@lid"}})}),
      Node("user", {{"jid", "888@lid"}, {"pn_jid", "15552222222@s.whatsapp.net"}},
           Children{Node("contact", {{"type", "in"}})}),
      Node("user", {{"pn_jid", "15550000000@s.whatsapp.net"}}, Children{Node("contact", {{"type", "out"}})}),
      Node("user", {}, Children{Node("contact", {{"type", "out"}}, std::string("+15553333333"))}),
      Node("user", {{"jid", "junk"}}, Children{Node("contact", {{"type", "in"}})}),
  }));
  REQUIRE(r);
  REQUIRE(r->size() == 4);
  CHECK((*r)[0].exists);
  CHECK((*r)[0].lid->str() == "999@lid");
  CHECK((*r)[1].digits == "15552222222");
  CHECK((*r)[1].lid->str() == "888@lid");
  CHECK_FALSE((*r)[2].exists);
  CHECK((*r)[3].digits == "15553333333");
  CHECK_FALSE((*r)[3].lid);

  auto err = message::parse_contact_answer(Node("iq", {{"type", "error"}}, Children{Node("error", {{"code", "429"}})}));
  CHECK(err.error().code == "iq_error:429");
  CHECK(message::parse_contact_answer(Node("iq", {{"type", "result"}})).error().code == "bad_usync");
}

TEST_CASE("contacts: about text read, hidden, and set") {
  auto shown = message::parse_about_answer(usync_answer(
      Children{Node("user", {{"jid", "1@lid"}}, Children{Node("status", {{"t", "1700000000"}}, std::string("busy"))})}));
  REQUIRE(shown);
  CHECK(*shown->text == "busy");
  CHECK(shown->t == 1700000000);
  auto hidden = message::parse_about_answer(
      usync_answer(Children{Node("user", {{"jid", "1@lid"}}, Children{Node("status", {{"code", "401"}})})}));
  REQUIRE(hidden);
  CHECK_FALSE(hidden->text);
  Node set = message::build_about_set("hi");
  CHECK(set.attr_or("xmlns", "") == "status");
  CHECK(*set.child("status")->content_chars() == "hi");
}

TEST_CASE("contacts: picture answers: found, none (404, 204), hidden (401), malformed") {
  Node q = message::build_picture_get(binary::Jid::parse("1555:3@s.whatsapp.net").value(), true);
  CHECK(q.attr_or("target", "") == "1555@s.whatsapp.net");
  CHECK(q.child("picture")->attr_or("type", "") == "image");
  auto found = message::parse_picture_answer(Node(
      "iq", {{"type", "result"}},
      Children{Node("picture", {{"id", "7"}, {"url", "https://x/y"}, {"type", "image"}, {"direct_path", "/y"}})}));
  REQUIRE(found);
  CHECK(found->found);
  CHECK(found->url == "https://x/y");
  auto none = message::parse_picture_answer(Node("iq", {{"type", "error"}}, Children{Node("error", {{"code", "404"}})}));
  REQUIRE(none);
  CHECK_FALSE(none->found);
  auto empty = message::parse_picture_answer(Node("iq", {{"type", "result"}}, Children{Node("picture", {{"status", "204"}})}));
  REQUIRE(empty);
  CHECK_FALSE(empty->found);
  CHECK(message::parse_picture_answer(Node("iq", {{"type", "error"}}, Children{Node("error", {{"code", "401"}})}))
            .error()
            .code == "iq_error:401");
  CHECK_FALSE(message::parse_picture_answer(Node("iq", {{"type", "result"}}, Children{Node("picture")})));
  CHECK_FALSE(message::parse_picture_answer(Node("iq", {{"type", "result"}})));
  CHECK(message::build_picture_set({}).children().empty());
}

TEST_CASE("contacts: block list set names the LID and the number, list and pushes read") {
  auto lid = binary::Jid::parse("999@lid").value();
  auto pn = binary::Jid::parse("15551234567@s.whatsapp.net").value();
  Node block = message::build_blocklist_set(true, lid, pn);
  const Node* item = block.child("item");
  REQUIRE(item);
  CHECK(item->attr_or("action", "") == "block");
  CHECK(item->attr_or("jid", "") == "999@lid");
  CHECK(item->attr_or("pn_jid", "") == "15551234567@s.whatsapp.net");
  CHECK_FALSE(message::build_blocklist_set(false, lid, pn).child("item")->has_attr("pn_jid"));
  auto list = message::parse_blocklist(Node(
      "iq", {{"type", "result"}},
      Children{Node("list", {}, Children{Node("item", {{"jid", "999@lid"}, {"pn_jid", "15551234567@s.whatsapp.net"}}),
                                         Node("item", {{"jid", "bad jid"}})})}));
  REQUIRE(list);
  REQUIRE(list->size() == 1);
  CHECK(list->front().pn->str() == "15551234567@s.whatsapp.net");
  auto pushed = message::parse_blocklist_notification(
      Node("notification", {{"type", "account_sync"}},
           Children{Node("blocklist", {}, Children{Node("item", {{"jid", "999@lid"}, {"action", "unblock"}}),
                                                   Node("item", {{"jid", "999@lid"}, {"action", "maybe"}})})}));
  REQUIRE(pushed.size() == 1);
  CHECK(pushed[0].action == "unblock");
}

TEST_CASE("contacts: presence in and out") {
  CHECK(message::build_presence(true, "Ann").attr_or("name", "") == "Ann");
  CHECK_FALSE(message::build_presence(false, "").has_attr("name"));
  CHECK(message::build_presence_subscribe(binary::Jid::parse("1@lid").value()).attr_or("to", "") == "1@lid");
  auto on = message::parse_presence(Node("presence", {{"from", "1:2@lid"}}));
  REQUIRE(on);
  CHECK(on->available);
  CHECK(on->from.str() == "1@lid");
  auto off = message::parse_presence(Node("presence", {{"from", "1@lid"}, {"type", "unavailable"}, {"last", "1700000001"}}));
  REQUIRE(off);
  CHECK_FALSE(off->available);
  CHECK(*off->last_seen == 1700000001);
  auto deny = message::parse_presence(Node("presence", {{"from", "1@lid"}, {"type", "unavailable"}, {"last", "deny"}}));
  REQUIRE(deny);
  CHECK_FALSE(deny->last_seen);
  CHECK_FALSE(message::parse_presence(Node("presence", {{"from", "123-456@g.us"}})));
  CHECK_FALSE(message::parse_presence(Node("presence", {{"from", "1@lid"}, {"type", "subscribe"}})));
}

TEST_CASE("contacts: picture and about pushes, logout") {
  auto set = message::parse_picture_notification(
      Node("notification", {{"type", "picture"}, {"from", "1@lid"}}, Children{Node("set", {{"jid", "1@lid"}, {"id", "5"}})}));
  REQUIRE(set);
  CHECK(set->action == "set");
  CHECK(set->id == "5");
  auto del = message::parse_picture_notification(
      Node("notification", {{"type", "picture"}}, Children{Node("delete", {{"jid", "123-456@g.us"}})}));
  REQUIRE(del);
  CHECK(del->action == "delete");
  CHECK_FALSE(message::parse_picture_notification(Node("notification", {{"type", "picture"}})));
  auto about = message::parse_about_notification(
      Node("notification", {{"type", "status"}, {"from", "1@lid"}, {"t", "9"}}, Children{Node("set", {}, std::string("hey"))}));
  REQUIRE(about);
  CHECK(about->text == "hey");
  Node lo = message::build_logout(binary::Jid::parse("1555:3@s.whatsapp.net").value());
  CHECK(lo.attr_or("xmlns", "") == "md");
  CHECK(lo.child("remove-companion-device")->attr_or("jid", "") == "1555:3@s.whatsapp.net");
  CHECK(lo.child("remove-companion-device")->attr_or("reason", "") == "user_initiated");
}
