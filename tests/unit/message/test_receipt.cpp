// Receipt, retry receipt and ack shapes against docs/PROTOCOL.md §10,
// checked on the encoded bytes (what the server parses).
#include <doctest/doctest.h>

#include "profile.hpp"
#include "temp_dir.hpp"
#include "wa/message/receipt.hpp"
#include "wa/message/send.hpp"

using namespace wa;
using namespace wa::message;
using test::must;

namespace {
Bytes enc(const binary::Node& n) { return must(binary::encode(n)); }

binary::Node group_stanza() {
  binary::Children c;
  c.emplace_back("enc", binary::Attrs{{"v", "2"}, {"type", "skmsg"}}, Bytes{1, 2});
  return binary::Node("message",
                      {{"from", "120363000000000001@g.us"}, {"participant", "222:3@s.whatsapp.net"},
                       {"id", "3EB0AABBCCDDEEFF001122"}, {"t", "1700000000"}, {"type", "text"}},
                      std::move(c));
}
binary::Node own_stanza() {
  return binary::Node("message", {{"from", "111:2@s.whatsapp.net"}, {"recipient", "222@s.whatsapp.net"},
                                  {"id", "3EB0AA"}, {"t", "17"}, {"type", "text"}});
}
}  // namespace

TEST_CASE("delivery receipts (10.2)") {
  auto r = must(build_delivery_receipt(group_stanza(), false, DeliveryKind::inactive));
  CHECK(enc(r) == enc(binary::Node("receipt", {{"id", "3EB0AABBCCDDEEFF001122"},
                                               {"to", "120363000000000001@g.us"},
                                               {"participant", "222:3@s.whatsapp.net"},
                                               {"type", "inactive"}})));
  auto d = must(build_delivery_receipt(group_stanza(), false, DeliveryKind::delivered));
  CHECK_FALSE(d.has_attr("type"));
  auto s = must(build_delivery_receipt(own_stanza(), true));
  CHECK(enc(s) == enc(binary::Node("receipt", {{"id", "3EB0AA"},
                                               {"to", "111:2@s.whatsapp.net"},
                                               {"recipient", "222@s.whatsapp.net"},
                                               {"type", "sender"}})));
  CHECK(build_delivery_receipt(binary::Node("message", {{"from", "x@s.whatsapp.net"}}), false).error().code ==
        "bad_stanza");
}

TEST_CASE("retry receipt without keys (count 1) and with keys (count 2) (10.3)") {
  auto r1 = must(build_retry_receipt(group_stanza(), 1, 0x01020304));
  binary::Children c1;
  c1.emplace_back("retry", binary::Attrs{{"count", "1"}, {"id", "3EB0AABBCCDDEEFF001122"}, {"t", "1700000000"}, {"v", "1"}});
  c1.emplace_back("registration", binary::Attrs{}, Bytes{1, 2, 3, 4});
  CHECK(enc(r1) == enc(binary::Node("receipt",
                                    {{"id", "3EB0AABBCCDDEEFF001122"}, {"to", "120363000000000001@g.us"},
                                     {"type", "retry"}, {"participant", "222:3@s.whatsapp.net"}},
                                    std::move(c1))));

  test::TempDir dir;
  test::Device me(dir.file("me.db"), "222:3@s.whatsapp.net");
  auto self = me.self();
  auto keys = must(make_retry_keys(*me.db, self));
  CHECK(must(me.db->load_prekey(keys.prekey.id)).has_value());  // usable when the pkmsg comes back
  auto keys2 = must(make_retry_keys(*me.db, self));
  CHECK(keys2.prekey.id != keys.prekey.id);  // fresh every time
  auto r2 = test::wire(must(build_retry_receipt(group_stanza(), 2, self.registration_id, &keys)));
  const auto* k = r2.child("keys");
  REQUIRE(k);
  std::vector<std::string> tags;
  for (const auto& n : k->children()) tags.push_back(n.tag);
  CHECK(tags == std::vector<std::string>{"type", "identity", "key", "skey", "device-identity"});
  CHECK(*k->child("type")->bytes() == Bytes{5});
  CHECK(k->child("identity")->bytes()->size() == 32);
  CHECK(*k->child("key")->child("id")->bytes() == write_be(keys.prekey.id, 3));
  CHECK(k->child("skey")->child("signature")->bytes()->size() == 64);
  CHECK(*k->child("device-identity")->bytes() == self.account_identity);

  // What the original sender parses back out of it.
  r2.attrs = {{"from", "120363000000000001@g.us"}, {"participant", "222:3@s.whatsapp.net"},
              {"id", "3EB0AABBCCDDEEFF001122"}, {"type", "retry"}};
  auto req = must(parse_retry_receipt(r2));
  CHECK(req.from.is_group());
  CHECK(req.device().str() == "222:3@s.whatsapp.net");
  CHECK(req.registration_id == self.registration_id);
  REQUIRE(req.keys);
  CHECK(req.keys->device_id == 3);
  CHECK(req.keys->registration_id == self.registration_id);

  CHECK(build_retry_receipt(group_stanza(), 6, 1).error().code == "retry_exhausted");
  CHECK(build_retry_receipt(group_stanza(), 0, 1).error().code == "retry_exhausted");
}

TEST_CASE("retry receipt parsing rejects malformed input") {
  auto base = [] {
    binary::Children c;
    c.emplace_back("retry", binary::Attrs{{"count", "1"}, {"id", "X"}, {"t", "1"}, {"v", "1"}});
    return binary::Node("receipt", {{"from", "222:3@s.whatsapp.net"}, {"id", "X"}, {"type", "retry"}}, std::move(c));
  };
  CHECK(must(parse_retry_receipt(base())).count == 1);
  auto n = base();
  n.set_attr("type", "read");
  CHECK(parse_retry_receipt(n).error().code == "bad_receipt");
  n = base();
  n.set_attr("from", "120363@g.us");  // group without participant
  CHECK(parse_retry_receipt(n).error().code == "bad_receipt");
  n = base();
  (*n.mutable_children())[0].set_attr("count", "-1");
  CHECK(parse_retry_receipt(n).error().code == "bad_receipt");
  n = base();
  n.mutable_children()->emplace_back("registration", binary::Attrs{}, Bytes{1, 2});
  CHECK(parse_retry_receipt(n).error().code == "bad_receipt");
  n = base();
  n.mutable_children()->emplace_back("keys");  // keys without registration
  CHECK(parse_retry_receipt(n).error().code == "bad_receipt");
  n = base();
  n.mutable_children()->emplace_back("registration", binary::Attrs{}, Bytes{0, 0, 0, 9});
  n.mutable_children()->emplace_back("keys");  // empty keys
  CHECK(parse_retry_receipt(n).error().code == "bad_receipt");
  n = base();
  n.mutable_children()->clear();
  CHECK(parse_retry_receipt(n).error().code == "bad_receipt");
}

TEST_CASE("acks (10.4)") {
  Self self;
  self.jid = must(binary::Jid::parse("111:1@s.whatsapp.net"));
  auto a = must(build_ack(group_stanza(), &self, 500));
  CHECK(enc(a) == enc(binary::Node("ack", {{"class", "message"},
                                           {"id", "3EB0AABBCCDDEEFF001122"},
                                           {"to", "120363000000000001@g.us"},
                                           {"participant", "222:3@s.whatsapp.net"},
                                           {"type", "text"},
                                           {"from", "111:1@s.whatsapp.net"},
                                           {"error", "500"}})));
  binary::Node receipt("receipt", {{"from", "222@s.whatsapp.net"}, {"id", "R1"}, {"type", "read"}, {"t", "5"}});
  auto ra = must(build_ack(receipt));
  CHECK(enc(ra) == enc(binary::Node("ack", {{"class", "receipt"}, {"id", "R1"}, {"to", "222@s.whatsapp.net"}, {"type", "read"}})));
  CHECK(nack_code_for(Error{"unsupported", ""}) == 488);
  CHECK(nack_code_for(Error{"bad_protobuf", ""}) == 491);
  CHECK_FALSE(nack_code_for(Error{"bad_mac", ""}).has_value());
  // A message key reused under a new id: the sender can re-encrypt, so retry.
  CHECK_FALSE(nack_code_for(Error{"duplicate_message", ""}).has_value());
}
