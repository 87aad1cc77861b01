#include <doctest/doctest.h>

#include "wa/binary/jid.hpp"

using namespace wa::binary;

namespace {
Jid ok(std::string_view s) {
  auto j = Jid::parse(s);
  INFO(s);
  REQUIRE_MESSAGE(j.has_value(), (j ? "" : j.error().message));
  CHECK(j->str() == s);  // canonical inputs format back unchanged
  return *j;
}
std::string err(std::string_view s) {
  auto j = Jid::parse(s);
  INFO(s);
  REQUIRE_FALSE(j.has_value());
  CHECK(j.error().code == "bad_jid");
  return j.error().message;
}
}  // namespace

TEST_CASE("jid forms parse and format") {
  Jid pn = ok("5511999999999@s.whatsapp.net");
  CHECK(pn.user == "5511999999999");
  CHECK(pn.device == 0);
  CHECK(pn.is_pn());
  CHECK(pn.is_user());
  CHECK_FALSE(pn.is_group());

  Jid dev = ok("5511999999999:12@s.whatsapp.net");
  CHECK(dev.device == 12);
  CHECK(dev.to_non_ad().str() == "5511999999999@s.whatsapp.net");

  Jid srv = ok("@s.whatsapp.net");
  CHECK(srv.is_server());
  CHECK_FALSE(srv.is_user());

  Jid lid = ok("123456:7@lid");
  CHECK(lid.is_lid());
  CHECK(lid.device == 7);
  CHECK(lid.domain_type() == kDomainLid);
  CHECK(lid.signal_address_name() == "123456_1");
  CHECK(pn.signal_address_name() == "5511999999999");

  CHECK(ok("123@hosted").signal_address_name() == "123_128");
  CHECK(ok("123:3@hosted.lid").signal_address_name() == "123_129");
  CHECK(ok("120363025246125888@g.us").is_group());
  CHECK(ok("5511999999999-1600000000@g.us").is_group());
  CHECK(ok("@g.us").is_server());
  CHECK(ok("status@broadcast").is_status_broadcast());
  CHECK(ok("1234567890@broadcast").is_broadcast());
  CHECK(ok("120363144038483540@newsletter").is_newsletter());
  ok("867051314767696@bot");
  ok("16505361212@c.us");
  CHECK(ok("16505361212@c.us").is_user());
  Jid fb = ok("100012345678:300@msgr");
  CHECK(fb.device == 300);
  Jid interop = ok("7-4915112345678:2@interop");
  CHECK(interop.integrator == 7);
  CHECK(interop.user == "4915112345678");
  CHECK(interop.device == 2);
  Jid agent = ok("5511999_5:3@s.whatsapp.net");
  CHECK(agent.agent == 5);
  CHECK(agent.signal_address_name() == "5511999_5");
  CHECK(agent.to_non_ad().str() == "5511999@s.whatsapp.net");
}

TEST_CASE("device 0 is the primary device and formats without ':0'") {
  auto j = Jid::parse("123:0@s.whatsapp.net");
  REQUIRE(j);
  CHECK(j->device == 0);
  CHECK(j->str() == "123@s.whatsapp.net");
}

TEST_CASE("malformed jids name what is wrong") {
  CHECK(err("") == "jid is empty");
  CHECK(err("5511999") == "jid has no '@'");
  CHECK(err("a@b@s.whatsapp.net") == "jid has more than one '@'");
  CHECK(err("123@") == "jid has no server after '@'");
  CHECK(err("123@x") == "unknown server 'x'");
  CHECK(err("123:x@s.whatsapp.net") == "device is not a number");
  CHECK(err("123:@s.whatsapp.net") == "device is empty");
  CHECK(err("123:-1@s.whatsapp.net") == "device is not a number");
  CHECK(err("123:07@s.whatsapp.net") == "device has a leading zero");
  CHECK(err("123:256@s.whatsapp.net") == "device 256 is out of range (max 255)");
  CHECK(err("123:70000@msgr") == "device 70000 is out of range (max 65535)");
  CHECK(err("123:1:2@s.whatsapp.net") == "jid has more than one ':'");
  CHECK(err("123:1@g.us") == "server 'g.us' does not take a device");
  CHECK(err("+5511@s.whatsapp.net").find("must be digits") != std::string::npos);
  CHECK(err("55 11@s.whatsapp.net").find("must be digits") != std::string::npos);
  CHECK(err("abc@g.us").find("group id") != std::string::npos);
  CHECK(err("abc@broadcast").find("broadcast id") != std::string::npos);
  CHECK(err("123_1@lid") == "an agent ('_') is only allowed on s.whatsapp.net");
  CHECK(err("123_x@s.whatsapp.net") == "agent is not a number");
  CHECK(err("123_1:1@s.whatsapp.net").find("domain type") != std::string::npos);
  CHECK(err(":1@s.whatsapp.net") == "a device or agent needs a user");
  CHECK(err("4915112345678:2@interop") == "interop user must be 'integrator-user'");
  CHECK(err(std::string(65, '1') + "@s.whatsapp.net").find("too long") != std::string::npos);
}

TEST_CASE("validate checks hand-built jids") {
  Jid j;
  CHECK_FALSE(j.validate());
  j.server = "s.whatsapp.net";
  j.user = "123";
  CHECK(j.validate());
  j.device = 300;
  CHECK_FALSE(j.validate());
  j.device = 1;
  j.server = "g.us";
  CHECK_FALSE(j.validate());
}
