// Section numbers in case names refer to docs/PROTOCOL.md.
#include <doctest/doctest.h>

#include "profile.hpp"
#include "temp_dir.hpp"
#include "wa/message/prekeys.hpp"
#include "wa/message/usync.hpp"

using namespace wa;
using namespace wa::message;
using test::must;

namespace {
Self self_of(const std::string& jid, const std::string& lid = "") {
  Self s;
  s.jid = must(binary::Jid::parse(jid));
  if (!lid.empty()) s.lid = must(binary::Jid::parse(lid));
  return s;
}
std::vector<std::string> strs(const std::vector<binary::Jid>& v) {
  std::vector<std::string> out;
  for (const auto& j : v) out.push_back(j.str());
  return out;
}
}  // namespace

TEST_CASE("usync query shape (8.1)") {
  std::vector<binary::Jid> users{must(binary::Jid::parse("222:3@s.whatsapp.net")),
                                 must(binary::Jid::parse("111@s.whatsapp.net"))};
  auto iq = test::wire(build_usync_devices_query(users, "q1", "sid1"));
  CHECK(iq.tag == "iq");
  CHECK(iq.attrs == binary::Attrs{{"to", "@s.whatsapp.net"}, {"type", "get"}, {"xmlns", "usync"}, {"id", "q1"}});
  const auto* usync = iq.child("usync");
  REQUIRE(usync);
  CHECK(usync->attrs == binary::Attrs{{"sid", "sid1"}, {"mode", "query"}, {"context", "message"}, {"last", "true"}, {"index", "0"}});
  const auto* q = usync->child("query");
  REQUIRE(q);
  REQUIRE(q->children().size() == 2);
  CHECK(q->children()[0] == binary::Node("devices", {{"version", "2"}}));
  CHECK(q->children()[1].tag == "lid");
  auto us = usync->child("list")->children("user");
  REQUIRE(us.size() == 2);
  CHECK(us[0]->attr_or("jid", "") == "222@s.whatsapp.net");  // device stripped
  CHECK(us[1]->attr_or("jid", "") == "111@s.whatsapp.net");
}

TEST_CASE("usync response: key-index rule, own device skipped, lid, hosted") {
  auto resp = test::usync_response({{"222@s.whatsapp.net", {{0, false}, {3, true}, {4, false}}, "999@lid"},
                                    {"111@s.whatsapp.net", {{0, false}, {1, true}, {2, true}}, ""}});
  // Add a hosted device to the first user by hand.
  auto& user0 = (*resp.mutable_children())[0].mutable_children()->at(0).mutable_children()->at(0);
  auto& devs = user0.mutable_children()->at(0).mutable_children()->at(0);
  devs.mutable_children()->emplace_back("device", binary::Attrs{{"id", "99"}, {"key-index", "7"}, {"is_hosted", "true"}});
  devs.mutable_children()->emplace_back("device", binary::Attrs{{"id", "nope"}});
  auto users = must(parse_usync_devices(test::wire(resp)));
  REQUIRE(users.size() == 2);
  CHECK(users[0].user.str() == "222@s.whatsapp.net");
  REQUIRE(users[0].lid);
  CHECK(users[0].lid->str() == "999@lid");
  auto me = self_of("111:1@s.whatsapp.net");
  CHECK(strs(device_jids(users[0], me)) == std::vector<std::string>{"222@s.whatsapp.net", "222:3@s.whatsapp.net", "222:99@hosted"});
  CHECK(strs(device_jids(users[1], me)) == std::vector<std::string>{"111@s.whatsapp.net", "111:2@s.whatsapp.net"});

  // The cache keeps the hosted server.
  auto devicesj = device_jids(users[0], me);
  auto cached = to_cache(devicesj, 42);
  CHECK(cached.fetched_at == 42);
  CHECK(strs(from_cache(users[0].user, cached)) == strs(devicesj));
}

TEST_CASE("usync: errors are typed") {
  CHECK(parse_usync_devices(binary::Node("iq", {{"type", "result"}})).error().code == "bad_usync");
  CHECK(parse_usync_devices(binary::Node("message")).error().code == "bad_usync");
  binary::Children err;
  err.emplace_back("error", binary::Attrs{{"code", "500"}, {"text", "internal"}});
  CHECK(parse_usync_devices(binary::Node("iq", {{"type", "error"}}, std::move(err))).error().code == "iq_error:500");
  // Users with invalid jids are dropped, not trusted.
  auto resp = test::usync_response({{"not a jid", {{0, false}}, ""}, {"1@g.us", {{0, false}}, ""}});
  CHECK(must(parse_usync_devices(resp)).empty());
}

TEST_CASE("prekey query shape (8.2)") {
  std::vector<binary::Jid> devs{must(binary::Jid::parse("222:3@s.whatsapp.net"))};
  auto iq = test::wire(build_prekey_query(devs, "k1", true));
  CHECK(iq.attrs == binary::Attrs{{"xmlns", "encrypt"}, {"type", "get"}, {"to", "@s.whatsapp.net"}, {"id", "k1"}});
  REQUIRE(iq.child("key"));
  auto us = iq.child("key")->children("user");
  REQUIRE(us.size() == 1);
  CHECK(us[0]->attrs == binary::Attrs{{"jid", "222:3@s.whatsapp.net"}, {"reason", "identity"}});
}

TEST_CASE("prekey response: flat, nested in <keys>, without one-time key, per-user error") {
  test::TempDir dir;
  test::Device b0(dir.file("b0.db"), "222@s.whatsapp.net");
  test::Device b3(dir.file("b3.db"), "222:3@s.whatsapp.net");
  test::Device b4(dir.file("b4.db"), "222:4@s.whatsapp.net");
  binary::Children users;
  users.push_back(b0.bundle_user(true, false));
  users.push_back(b3.bundle_user(true, true));
  users.push_back(b4.bundle_user(false, false));
  binary::Children err;
  err.emplace_back("error", binary::Attrs{{"code", "404"}, {"text", "item-not-found"}});
  users.emplace_back("user", binary::Attrs{{"jid", "222:5@s.whatsapp.net"}}, std::move(err));
  auto parsed = must(parse_prekey_response(test::wire(test::prekey_response(std::move(users)))));
  REQUIRE(parsed.size() == 4);
  REQUIRE(parsed[0].bundle);
  CHECK(parsed[0].bundle->device_id == 0);
  CHECK(parsed[0].bundle->prekey_id.has_value());
  CHECK(parsed[0].bundle->identity_key == *must(b0.db->get_credential(store::cred::identity_pub)));
  REQUIRE(parsed[1].bundle);
  CHECK(parsed[1].bundle->device_id == 3);
  CHECK(parsed[1].bundle->prekey_pub.size() == 32);
  REQUIRE(parsed[2].bundle);
  CHECK_FALSE(parsed[2].bundle->prekey_id.has_value());
  CHECK(parsed[3].jid.str() == "222:5@s.whatsapp.net");
  REQUIRE_FALSE(parsed[3].bundle);
  CHECK(parsed[3].bundle.error().code == "bundle_error:404");
}

TEST_CASE("prekey response: malformed keys give bad_bundle, never a crash") {
  test::TempDir dir;
  test::Device b0(dir.file("b0.db"), "222@s.whatsapp.net");
  auto mutate = [&](auto fn) {
    binary::Node user = b0.bundle_user(true, false);
    fn(*user.mutable_children());
    binary::Children users;
    users.push_back(std::move(user));
    auto parsed = must(parse_prekey_response(test::prekey_response(std::move(users))));
    REQUIRE(parsed.size() == 1);
    REQUIRE_FALSE(parsed[0].bundle);
    return parsed[0].bundle.error().code;
  };
  auto find = [](binary::Children& c, const std::string& tag) -> binary::Node& {
    for (auto& n : c)
      if (n.tag == tag) return n;
    FAIL("no child " << tag);
    return c[0];
  };
  CHECK(mutate([&](binary::Children& c) { find(c, "registration").content = Bytes{1, 2, 3}; }) == "bad_bundle");
  CHECK(mutate([&](binary::Children& c) { find(c, "identity").content = Bytes(31, 1); }) == "bad_bundle");
  CHECK(mutate([&](binary::Children& c) { find(c, "identity").content = std::monostate{}; }) == "bad_bundle");
  CHECK(mutate([&](binary::Children& c) {
          find(*find(c, "skey").mutable_children(), "signature").content = Bytes(63, 1);
        }) == "bad_bundle");
  CHECK(mutate([&](binary::Children& c) { find(*find(c, "key").mutable_children(), "id").content = Bytes{1}; }) ==
        "bad_bundle");
  CHECK(mutate([&](binary::Children& c) {
          c.erase(std::remove_if(c.begin(), c.end(), [](auto& n) { return n.tag == "skey"; }), c.end());
        }) == "bad_bundle");
  CHECK(parse_prekey_response(binary::Node("iq", {{"type", "result"}})).error().code == "bad_bundle");
}
