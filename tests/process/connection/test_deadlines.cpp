// The timeout budget (wa/contract/deadlines.hpp) end to end: a send's
// deadline at every hop is derived from senders.ack_timeout_ms, so an ack
// the operator allows for is waited for — there is no cap of its own at
// the supervisor (it used to give up after 120 s whatever the config said).
#include <doctest/doctest.h>

#include "wa_server.hpp"

using namespace harness;
using namespace std::chrono_literals;

TEST_CASE("an ack later than 120 s within senders.ack_timeout_ms: the client gets the real outcome") {
  TwoAccounts accounts("dla", "15550000111", "dlb", "15550000112", {{"senders", {{"ack_timeout_ms", 150000}}}});
  const std::string to_b = "15550000112@s.whatsapp.net";
  json warm = send_text(accounts.sup, "dla", to_b, "warm");
  REQUIRE_MESSAGE(warm.value("ok", false), warm.dump());
  // The server holds its ack of the next message for 125 s.
  REQUIRE(accounts.ts.fault_jid(accounts.a_dev, {"delay-acks", "1", "125000"}).first == 0);
  const auto t0 = std::chrono::steady_clock::now();
  json r;
  try {
    r = accounts.sup.call({{"cmd", "send_text"}, {"profile", "dla"}, {"to", to_b}, {"text", "slow"},
                           {"client_id", "slow-1"}},
                          170000);
  } catch (const std::exception& e) {
    r = json{{"exception", e.what()}};
  }
  const auto took = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0);
  INFO(r.dump() << " after " << took.count() << " s");
  CHECK(r.value("ok", false));
  CHECK(took >= 120s);
  CHECK(has_message(accounts.ev, "dlb", "slow"));
}
