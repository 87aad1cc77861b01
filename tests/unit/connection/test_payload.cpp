// Registration and login payloads decoded back field by field (docs/PROTOCOL.md §5.1, §5.3).
#include <doctest/doctest.h>

#include "client_payload.hpp"
#include "wa/proto/client_payload.pb.h"
#include "wa/signal/keys.hpp"

using namespace wa;
using namespace wa::connection;
namespace pb = wa::proto;

namespace {
Credentials creds() {
  Credentials c;
  c.noise = crypto::generate_keypair();
  c.identity = crypto::generate_keypair();
  c.registration_id = 0x01020304;
  c.signed_prekey = signal::generate_signed_prekey(c.identity, 0x0A0B0C, 1);
  c.adv_secret = crypto::random_bytes(32);
  return c;
}
std::string str(ByteView b) { return std::string(as_chars(b)); }
}  // namespace

TEST_CASE("registration payload") {
  ClientSettings s;
  Credentials c = creds();
  Bytes raw = registration_payload(s, c);
  pb::ClientPayload p;
  REQUIRE(p.ParseFromArray(raw.data(), static_cast<int>(raw.size())));
  CHECK_FALSE(p.passive());
  CHECK_FALSE(p.pull());
  CHECK_FALSE(p.has_username());
  CHECK(p.connecttype() == pb::ClientPayload::WIFI_UNKNOWN);
  CHECK(p.connectreason() == pb::ClientPayload::USER_ACTIVATED);
  CHECK(p.useragent().platform() == pb::ClientPayload::UserAgent::WEB);
  CHECK(p.useragent().appversion().tertiary() == 1043857760u);
  CHECK(p.webinfo().websubplatform() == pb::ClientPayload::WebInfo::WEB_BROWSER);
  const auto& d = p.devicepairingdata();
  CHECK(d.eregid() == std::string("\x01\x02\x03\x04", 4));
  CHECK(d.ekeytype() == std::string("\x05", 1));
  CHECK(d.eident() == str(c.identity.pub));
  CHECK(d.eskeyid() == std::string("\x0A\x0B\x0C", 3));
  CHECK(d.eskeyval() == str(c.signed_prekey.pub));
  CHECK(d.buildhash() == str(crypto::md5(as_bytes("2.3000.1043857760"))));
  Bytes skey_msg{5};
  skey_msg.insert(skey_msg.end(), c.signed_prekey.pub.begin(), c.signed_prekey.pub.end());
  CHECK(crypto::xeddsa_verify(c.identity.pub, skey_msg, as_bytes(d.eskeysig())));
  pb::DeviceProps props;
  REQUIRE(props.ParseFromString(d.deviceprops()));
  CHECK(props.os() == "Mac OS");
  CHECK(props.platformtype() == pb::DeviceProps::CHROME);
}

TEST_CASE("login payload carries the phone number and device of the stored JID") {
  ClientSettings s;
  s.browser_name = "Firefox";
  Credentials c = creds();
  c.jid = "15551234567:12@s.whatsapp.net";
  auto raw = login_payload(s, c);
  REQUIRE(raw);
  pb::ClientPayload p;
  REQUIRE(p.ParseFromArray(raw->data(), static_cast<int>(raw->size())));
  CHECK(p.username() == 15551234567ull);
  CHECK(p.device() == 12u);
  CHECK(p.passive());
  CHECK(p.pull());
  CHECK_FALSE(p.has_devicepairingdata());
  c.jid = "abc@s.whatsapp.net";
  CHECK_FALSE(login_payload(s, c));
}

TEST_CASE("companion platform ids follow the browser") {
  ClientSettings s;
  CHECK(companion_platform_id(s) == "1");
  s.browser_name = "Safari";
  CHECK(companion_platform_id(s) == "6");
  s.browser_name = "Desktop";
  CHECK(companion_platform_id(s) == "7");
  s.browser_os = "Windows";
  CHECK(companion_platform_id(s) == "8");
  s.browser_name = "Lynx";
  CHECK(companion_platform_id(s) == "9");
}
