#include <doctest/doctest.h>

#include "admin.hpp"

using namespace wa::testserver::admin;

TEST_CASE("fault words become validated requests") {
  auto r = fault_request("155501:1@s.whatsapp.net", "", {"stream-error", "515"});
  REQUIRE(r);
  CHECK((*r)["action"] == "stream-error");
  CHECK((*r)["code"] == "515");
  auto f = parse_fault(*r);
  REQUIRE(f);
  CHECK(f->action == FaultAction::stream_error);
  CHECK(f->stream_error == "515");

  auto d = fault_request("155501:1@s.whatsapp.net", "", {"delay-acks", "3", "250"});
  REQUIRE(d);
  auto df = parse_fault(*d);
  REQUIRE(df);
  CHECK(df->n == 3);
  CHECK(df->ms == 250);

  auto rl = parse_fault(*fault_request("", "155501", {"refuse-login", "403"}));
  REQUIRE(rl);
  CHECK(rl->phone == "155501");
  CHECK(rl->reason == "403");
}

TEST_CASE("stream-error aliases map to the wire kinds") {
  CHECK(parse_fault(*fault_request("", "155501", {"stream-error", "401"}))->stream_error == "device_removed");
  CHECK(parse_fault(*fault_request("", "155501", {"stream-error", "conflict"}))->stream_error == "replaced");
  CHECK(parse_fault(*fault_request("", "155501", {"stream-error", "replaced"}))->stream_error == "replaced");
  CHECK(parse_fault(*fault_request("", "155501", {"stream-error", "503"}))->stream_error == "503");
}

TEST_CASE("bad fault commands are refused with a reason") {
  const std::vector<std::vector<std::string>> bad = {
      {},  {"explode"}, {"close", "now"}, {"stream-error"}, {"stream-error", "999"}, {"drop-acks"},
      {"drop-acks", "-1"}, {"drop-acks", "x"}, {"delay-acks", "1"}, {"delay-acks", "1", "9999999"},
      {"refuse-login", "nope"}};
  for (const auto& words : bad) {
    auto r = fault_request("155501:1@s.whatsapp.net", "", words);
    CHECK_FALSE(r);
    if (!r) CHECK(r.error().code == "bad_fault");
  }
  CHECK_FALSE(fault_request("", "", {"close"}));                       // no target
  CHECK_FALSE(fault_request("123@g.us", "", {"close"}));               // not a user
  CHECK_FALSE(fault_request("", "12ab", {"close"}));                   // bad phone
  CHECK_FALSE(parse_fault(json::array()));
  CHECK_FALSE(parse_fault(json{{"action", "drop-acks"}, {"phone", "155501"}, {"n", "3"}}));  // n must be a number
}

TEST_CASE("phone numbers") {
  CHECK(check_phone("155501"));
  CHECK_FALSE(check_phone("1234"));
  CHECK_FALSE(check_phone("+155501"));
  CHECK_FALSE(check_phone(std::string(21, '1')));
  CHECK(socket_url("/tmp/x") == "ipc:///tmp/x/admin.sock");
}

TEST_CASE("omit-pn takes a device JID, a LID or a phone and no arguments") {
  auto dev = fault_request("155501:2@s.whatsapp.net", "", {"omit-pn"});
  REQUIRE(dev);
  CHECK(parse_fault(*dev)->action == FaultAction::omit_pn);
  CHECK(fault_request("100000000000001:2@lid", "", {"omit-pn"}));
  CHECK(fault_request("", "155501", {"omit-pn"}));
  CHECK_FALSE(fault_request("", "155501", {"omit-pn", "1"}));
  CHECK_FALSE(fault_request("", "", {"omit-pn"}));
}
