// The login state: a second login of a device replaces the first, and the
// first connection's close must not log out the second.
#include <doctest/doctest.h>

#include "sessions.hpp"

using namespace wa::testserver;

namespace {

void as(Conn& c, const char* phone, uint16_t device) {
  c.addr = DeviceAddr{phone, device};
  c.authed = true;
}

}  // namespace

TEST_CASE("sessions: a new login replaces the old one, whose close then changes nothing") {
  Sessions s;
  Conn first, second;
  as(first, "155501", 1);
  as(second, "155501", 1);
  CHECK(s.log_in(first) == nullptr);
  CHECK(s.log_in(first) == nullptr);  // the same connection again replaces nothing
  CHECK(s.log_in(second) == &first);
  CHECK(s.online({"155501", 1}) == &second);
  s.log_out(first);
  CHECK(s.online({"155501", 1}) == &second);
  s.log_out(second);
  CHECK(s.online({"155501", 1}) == nullptr);
  CHECK(s.online_count() == 0);
}

TEST_CASE("sessions: an account's devices, and QR refs until the companion goes") {
  Sessions s;
  Conn a1, a2, b1, companion;
  as(a1, "155501", 1);
  as(a2, "155501", 2);
  as(b1, "155502", 1);
  s.log_in(a1);
  s.log_in(a2);
  s.log_in(b1);
  CHECK(s.of_account("155501") == std::vector<Conn*>{&a1, &a2});
  CHECK(s.of_account("155503").empty());
  CHECK(s.online_count() == 3);

  companion.pairing.refs = {"2@a", "2@b"};
  for (const auto& r : companion.pairing.refs) s.show_ref(r, companion);
  CHECK(s.by_ref("2@b") == &companion);
  CHECK(s.by_ref("2@c") == nullptr);
  s.drop_refs(companion);
  CHECK(s.by_ref("2@a") == nullptr);
  CHECK(s.by_ref("2@b") == nullptr);
}
