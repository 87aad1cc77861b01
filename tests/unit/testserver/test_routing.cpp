// Routing decisions: who gets which stanza, with which attributes.
#include <doctest/doctest.h>

#include "route_helpers.hpp"

#include "routing.hpp"
#include "temp_dir.hpp"

using namespace wa;
using namespace wa::testserver;
using binary::Node;

using namespace wa::testserver::test_helpers;

namespace {

struct Fixture {
  test::TempDir dir;
  State st = State::open(dir.path(), 1700000000).value();
  Fixture() {
    add_device(st, "155501", 1);
    add_device(st, "155501", 2);
    add_device(st, "155502", 1);
    add_device(st, "155502", 3);
  }
};

}  // namespace

TEST_CASE("1:1 fan-out: every listed device, own devices with recipient, never the sender") {
  Fixture f;
  Node msg("message", {{"id", "M1"}, {"to", "155502@s.whatsapp.net"}, {"type", "text"}});
  msg.content = binary::Children{Node("participants", {}, binary::Children{
      to("155502@s.whatsapp.net", enc("pkmsg", 1)), to("155502:1@s.whatsapp.net", enc("pkmsg", 2)),
      to("155502:3@s.whatsapp.net", enc("msg", 3)), to("155501:2@s.whatsapp.net", enc("msg", 4)),
      to("155501:1@s.whatsapp.net", enc("msg", 5)), to("155599:1@s.whatsapp.net", enc("msg", 6))}),
      Node("device-identity", {}, Bytes{9})};
  auto plan = plan_message(f.st, {"155501", 1}, msg, 1700000100);
  REQUIRE(plan);
  CHECK(plan->deliveries.size() == 3);  // phone (device 0), sender and unknown users dropped
  CHECK(plan->ack.attr_or("class", "") == "message");
  CHECK(plan->ack.attr_or("t", "") == "1700000100");
  CHECK(plan->ack.attr_or("from", "") == "155502@s.whatsapp.net");

  auto* peer1 = find(*plan, "155502", 1);
  REQUIRE(peer1);
  CHECK(peer1->node.attr_or("from", "") == "155501:1@s.whatsapp.net");
  CHECK_FALSE(peer1->node.has_attr("recipient"));
  CHECK(peer1->node.attr_or("notify", "") == "n155501");
  REQUIRE(peer1->node.children().size() == 2);
  CHECK(*peer1->node.children()[0].bytes() == Bytes{2});
  CHECK(peer1->node.children()[1].tag == "device-identity");

  auto* own2 = find(*plan, "155501", 2);
  REQUIRE(own2);
  CHECK(own2->node.attr_or("recipient", "") == "155502@s.whatsapp.net");
  CHECK(*own2->node.children()[0].bytes() == Bytes{4});
  CHECK_FALSE(find(*plan, "155501", 1));
}

TEST_CASE("LID-addressed targets resolve to the same devices and get LID senders") {
  Fixture f;
  std::string lid = f.st.account("155502")->lid;
  Node msg("message", {{"id", "M2"}, {"to", lid + "@lid"}, {"type", "text"}});
  msg.content = binary::Children{Node("participants", {}, binary::Children{to(lid + ":3@lid", enc("msg", 7))})};
  auto plan = plan_message(f.st, {"155501", 1}, msg, 1);
  REQUIRE(plan);
  REQUIRE(plan->deliveries.size() == 1);
  CHECK(plan->deliveries[0].to == DeviceAddr{"155502", 3});
  CHECK(plan->deliveries[0].node.attr_or("from", "") == f.st.account("155501")->lid + ":1@lid");
}

TEST_CASE("retry resend addressed to one device reaches only that device") {
  Fixture f;
  Node msg("message", {{"id", "M3"}, {"to", "155502:3@s.whatsapp.net"}, {"type", "text"}, {"device_fanout", "false"}});
  msg.content = binary::Children{Node("enc", {{"v", "2"}, {"type", "pkmsg"}, {"count", "1"}}, Bytes{8})};
  auto plan = plan_message(f.st, {"155501", 1}, msg, 1);
  REQUIRE(plan);
  REQUIRE(plan->deliveries.size() == 1);
  CHECK(plan->deliveries[0].to == DeviceAddr{"155502", 3});
}

TEST_CASE("a Baileys retry resend (direct enc AND the device under participants) reaches the device once") {
  Fixture f;
  Node msg("message", {{"id", "M4"}, {"to", "155502:3@s.whatsapp.net"}, {"type", "text"}, {"device_fanout", "false"}});
  msg.content = binary::Children{Node("enc", {{"v", "2"}, {"type", "msg"}, {"count", "1"}}, Bytes{9}),
                                 Node("participants", {}, binary::Children{to("155502:3@s.whatsapp.net", enc("msg", 0x52))})};
  auto plan = plan_message(f.st, {"155501", 1}, msg, 1);
  REQUIRE(plan);
  REQUIRE(plan->deliveries.size() == 1);
  CHECK(plan->deliveries[0].to == DeviceAddr{"155502", 3});
  REQUIRE(plan->deliveries[0].node.children().size() == 1);
  CHECK(plan->deliveries[0].node.children()[0].attr_or("count", "") == "1");  // the direct one
}

TEST_CASE("group fan-out: pairwise enc before the skmsg, members only") {
  Fixture f;
  Group g;
  g.id = "155501-1";
  g.creator = "155501";
  g.members = {{"155501", true}, {"155502", false}};
  REQUIRE(f.st.save_group(g));
  Node msg("message", {{"id", "G1"}, {"to", "155501-1@g.us"}, {"type", "text"}, {"addressing_mode", "pn"}});
  msg.content = binary::Children{enc("skmsg", 0x50),
                                 Node("participants", {}, binary::Children{to("155502:3@s.whatsapp.net", enc("pkmsg", 0x51))})};
  auto plan = plan_message(f.st, {"155501", 1}, msg, 1);
  REQUIRE(plan);
  CHECK(plan->deliveries.size() == 3);  // 155501:2, 155502:1, 155502:3
  auto* d3 = find(*plan, "155502", 3);
  REQUIRE(d3);
  CHECK(d3->node.attr_or("from", "") == "155501-1@g.us");
  CHECK(d3->node.attr_or("participant", "") == "155501:1@s.whatsapp.net");
  REQUIRE(d3->node.children().size() == 2);
  CHECK(d3->node.children()[0].attr_or("type", "") == "pkmsg");
  CHECK(d3->node.children()[1].attr_or("type", "") == "skmsg");
  auto* d1 = find(*plan, "155502", 1);
  REQUIRE(d1);
  REQUIRE(d1->node.children().size() == 1);
  CHECK(d1->node.children()[0].attr_or("type", "") == "skmsg");

  Node other = msg;
  auto denied = plan_message(f.st, {"155599", 1}, other, 1);
  REQUIRE_FALSE(denied);
  CHECK(denied.error().code == "not_member");
  other.set_attr("to", "999-1@g.us");
  auto missing = plan_message(f.st, {"155501", 1}, other, 1);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == "unknown_group");
}

TEST_CASE("announcement group: only admins (and the creator) send") {
  Fixture f;
  Group g;
  g.id = "155501-2";
  g.creator = "155501";
  g.members = {{"155501", false}, {"155502", false}, {"155503", true}};
  g.announce = true;
  REQUIRE(f.st.save_group(g));
  add_device(f.st, "155503", 1);
  Node msg("message", {{"id", "A1"}, {"to", "155501-2@g.us"}, {"type", "text"}, {"addressing_mode", "pn"}});
  msg.content = binary::Children{enc("skmsg", 0x50)};
  auto refused = plan_message(f.st, {"155502", 1}, msg, 1);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == "not_admin");
  CHECK(ack_error_code(refused.error()) == 403);
  CHECK(plan_message(f.st, {"155501", 1}, msg, 1).has_value());  // the creator
  CHECK(plan_message(f.st, {"155503", 1}, msg, 1).has_value());  // an admin
  f.st.group("155501-2")->announce = false;
  CHECK(plan_message(f.st, {"155502", 1}, msg, 1).has_value());
}

TEST_CASE("receipts: retry to the exact device, plain receipts to every device of the user") {
  Fixture f;
  Node retry("receipt", {{"id", "M1"}, {"to", "155501:2@s.whatsapp.net"}, {"type", "retry"}});
  retry.content = binary::Children{Node("retry", {{"count", "1"}, {"id", "M1"}})};
  auto plan = plan_receipt(f.st, {"155502", 3}, retry, 5);
  REQUIRE(plan);
  REQUIRE(plan->deliveries.size() == 1);
  CHECK(plan->deliveries[0].to == DeviceAddr{"155501", 2});
  CHECK(plan->deliveries[0].node.attr_or("from", "") == "155502:3@s.whatsapp.net");
  CHECK(plan->deliveries[0].node.attr_or("type", "") == "retry");
  CHECK(plan->deliveries[0].node.child("retry"));
  CHECK(plan->ack.attr_or("class", "") == "receipt");

  Node delivered("receipt", {{"id", "M1"}, {"to", "155501@s.whatsapp.net"}});
  auto all = plan_receipt(f.st, {"155502", 3}, delivered, 5);
  REQUIRE(all);
  CHECK(all->deliveries.size() == 2);

  Node group_receipt("receipt", {{"id", "G1"}, {"to", "155501-1@g.us"}, {"participant", "155501:1@s.whatsapp.net"}});
  auto gp = plan_receipt(f.st, {"155502", 3}, group_receipt, 5);
  REQUIRE(gp);
  REQUIRE(gp->deliveries.size() == 1);
  CHECK(gp->deliveries[0].node.attr_or("from", "") == "155501-1@g.us");
  CHECK(gp->deliveries[0].node.attr_or("participant", "") == "155502:3@s.whatsapp.net");
}

TEST_CASE("malformed stanzas are errors, not crashes") {
  Fixture f;
  CHECK_FALSE(plan_message(f.st, {"155501", 1}, Node("message"), 1));
  CHECK_FALSE(plan_message(f.st, {"155501", 1}, Node("message", {{"id", "x"}, {"to", "not a jid"}}), 1));
  CHECK_FALSE(plan_receipt(f.st, {"155501", 1}, Node("receipt", {{"to", "155502@s.whatsapp.net"}}), 1));
  auto unknown = plan_message(f.st, {"155501", 1}, Node("message", {{"id", "x"}, {"to", "155599@s.whatsapp.net"}}), 1);
  REQUIRE(unknown);
  CHECK(unknown->deliveries.empty());
}
