// Validation of the group / read / typing control commands and send_text's
// reply fields: every field is checked before anything reaches an account.
#include <doctest/doctest.h>

#include "wa/contract/commands.hpp"

using namespace wa::contract;
using json = nlohmann::json;

namespace {

// "" when the request is valid, else the error code.
std::string code_of(const json& req) {
  auto r = validate_request(req);
  return r ? std::string() : r.error().code;
}

const std::string kUser = "15550000031@s.whatsapp.net";
const std::string kGroup = "15550000031-1700000000@g.us";

}  // namespace

TEST_CASE("group commands: valid requests pass, each field is checked") {
  CHECK(code_of({{"cmd", "group_create"}, {"profile", "p"}, {"subject", "team"}, {"participants", {kUser}}}) == "");
  CHECK(code_of({{"cmd", "group_info"}, {"profile", "p"}, {"gid", kGroup}}) == "");
  CHECK(code_of({{"cmd", "group_add"}, {"profile", "p"}, {"gid", kGroup}, {"participants", {kUser}}}) == "");
  CHECK(code_of({{"cmd", "group_remove"}, {"profile", "p"}, {"gid", kGroup}, {"participants", {kUser}}}) == "");

  CHECK(code_of({{"cmd", "group_create"}, {"profile", "p"}, {"participants", {kUser}}}) == "bad_request");
  CHECK(code_of({{"cmd", "group_create"}, {"profile", "p"}, {"subject", ""}, {"participants", {kUser}}}) ==
        "bad_request");
  CHECK(code_of({{"cmd", "group_create"}, {"profile", "p"}, {"subject", std::string(101, 'x')},
                 {"participants", {kUser}}}) == "too_large");
  CHECK(code_of({{"cmd", "group_create"}, {"profile", "p"}, {"subject", "t"}, {"participants", json::array()}}) ==
        "bad_request");
  CHECK(code_of({{"cmd", "group_create"}, {"profile", "p"}, {"subject", "t"}, {"participants", kUser}}) ==
        "bad_request");
  CHECK(code_of({{"cmd", "group_create"}, {"profile", "p"}, {"subject", "t"}, {"participants", {1}}}) ==
        "bad_request");
  CHECK(code_of({{"cmd", "group_create"}, {"profile", "p"}, {"subject", "t"}, {"participants", {kGroup}}}) ==
        "invalid_jid");
  CHECK(code_of({{"cmd", "group_create"}, {"profile", "p"}, {"subject", "t"},
                 {"participants", {"15550000031:2@s.whatsapp.net"}}}) == "invalid_jid");
  json many = json::array();
  for (int i = 0; i < 1025; ++i) many.push_back(kUser);
  CHECK(code_of({{"cmd", "group_add"}, {"profile", "p"}, {"gid", kGroup}, {"participants", many}}) == "too_large");
  CHECK(code_of({{"cmd", "group_info"}, {"profile", "p"}, {"gid", kUser}}) == "invalid_jid");
  CHECK(code_of({{"cmd", "group_info"}, {"profile", "p"}, {"gid", "@g.us"}}) == "invalid_jid");
  CHECK(code_of({{"cmd", "group_info"}, {"profile", "../x"}, {"gid", kGroup}}) == "invalid_profile");
  CHECK(code_of({{"cmd", "group_info"}, {"profile", "p"}, {"gid", kGroup}, {"extra", 1}}) == "bad_request");
  CHECK(code_of({{"cmd", "group_remove"}, {"profile", "p"}, {"gid", kGroup}}) == "bad_request");
}

TEST_CASE("read and typing: chat, ids, sender and state are checked") {
  CHECK(code_of({{"cmd", "read"}, {"profile", "p"}, {"chat", kUser}, {"ids", {"3EB0AA", "3EB0BB"}}}) == "");
  // In a group the author is required; a device JID (as message events give it) is accepted.
  CHECK(code_of({{"cmd", "read"}, {"profile", "p"}, {"chat", kGroup}, {"ids", {"3EB0AA"}},
                 {"sender", "15550000032:3@s.whatsapp.net"}}) == "");
  CHECK(code_of({{"cmd", "read"}, {"profile", "p"}, {"chat", kGroup}, {"ids", {"3EB0AA"}}}) == "bad_request");
  CHECK(code_of({{"cmd", "read"}, {"profile", "p"}, {"chat", kUser}, {"ids", json::array()}}) == "bad_request");
  CHECK(code_of({{"cmd", "read"}, {"profile", "p"}, {"chat", kUser}, {"ids", {""}}}) == "bad_request");
  CHECK(code_of({{"cmd", "read"}, {"profile", "p"}, {"chat", kUser}, {"ids", {std::string(129, 'A')}}}) ==
        "too_large");
  json ids = json::array();
  for (int i = 0; i < 257; ++i) ids.push_back("ID" + std::to_string(i));
  CHECK(code_of({{"cmd", "read"}, {"profile", "p"}, {"chat", kUser}, {"ids", ids}}) == "too_large");
  CHECK(code_of({{"cmd", "read"}, {"profile", "p"}, {"chat", "nope"}, {"ids", {"A"}}}) == "invalid_jid");
  CHECK(code_of({{"cmd", "read"}, {"profile", "p"}, {"chat", kUser}, {"ids", {"A"}}, {"sender", kGroup}}) ==
        "invalid_jid");

  CHECK(code_of({{"cmd", "typing"}, {"profile", "p"}, {"chat", kUser}, {"state", "on"}}) == "");
  CHECK(code_of({{"cmd", "typing"}, {"profile", "p"}, {"chat", kGroup}, {"state", "off"}}) == "");
  CHECK(code_of({{"cmd", "typing"}, {"profile", "p"}, {"chat", kUser}, {"state", "ON"}}) == "bad_request");
  CHECK(code_of({{"cmd", "typing"}, {"profile", "p"}, {"chat", kUser}, {"state", true}}) == "bad_request");
  CHECK(code_of({{"cmd", "typing"}, {"profile", "p"}, {"chat", kUser}}) == "bad_request");
  CHECK(code_of({{"cmd", "typing"}, {"profile", "p"}, {"chat", "15550000031:1@s.whatsapp.net"}, {"state", "on"}}) ==
        "invalid_jid");
}

TEST_CASE("send_text: quoted_sender needs quoted_id and a user JID") {
  json base{{"cmd", "send_text"}, {"profile", "p"}, {"to", kUser}, {"text", "hi"}};
  json ok = base;
  ok["quoted_id"] = "3EB0AA";
  ok["quoted_sender"] = "15550000032:3@s.whatsapp.net";
  CHECK(code_of(ok) == "");
  json alone = base;
  alone["quoted_sender"] = kUser;
  CHECK(code_of(alone) == "bad_request");
  json group_author = ok;
  group_author["quoted_sender"] = kGroup;
  CHECK(code_of(group_author) == "invalid_jid");
}
