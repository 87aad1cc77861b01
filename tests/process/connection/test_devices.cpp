// Device-list changes: when an account links a device, the server tells its
// contacts (<notification type="devices">), and their next message reaches
// the new device without waiting for the hour-long device-list cache.
#include <doctest/doctest.h>

#include "wa_server.hpp"

using namespace harness;

namespace {

// The device of `phone` with this JID in the server's status, or null.
json server_device(const json& status, const std::string& phone, const std::string& jid) {
  for (const auto& a : status["accounts"])
    if (a["phone"] == phone)
      for (const auto& d : a["devices"])
        if (d["jid"] == jid) return d;
  return json();
}

}  // namespace

TEST_CASE("a device linked after the first send gets the next message, and the devices notification is acked") {
  TestServer ts;
  Supervisor sup(config_for(ts, json::array({{{"profile", "dva"}}, {{"profile", "dvb"}}, {{"profile", "dvb2"}}})));
  EventLog ev(sup.run_dir());
  const std::string phone_a = "15550000071", phone_b = "15550000072";
  std::string a_dev = pair_by_qr(ts, ev, "dva", phone_a)["jid"];
  (void)pair_by_qr(ts, ev, "dvb", phone_b);

  // A writes to B: A's sender caches B's device list (one device).
  json r1 = send_text(sup, "dva", user_jid(phone_b), "before the link");
  INFO(r1.dump());
  REQUIRE(r1.value("ok", false));
  REQUIRE(ev.wait_for([&](const std::vector<json>&) { return has_message(ev, "dvb", "before the link"); }));

  // B links a second companion.
  const uint64_t notified_before = server_status(ts)["counters"].value("device_notifications", uint64_t{0});
  std::string b2_dev = pair_by_qr(ts, ev, "dvb2", phone_b)["jid"];
  // A is told (B's first device too), and A's worker acks it: nothing stays
  // unanswered or queued for A's device.
  REQUIRE(wait_until([&] {
    auto st = server_status(ts);
    auto d = server_device(st, phone_a, a_dev);
    return st["counters"].value("device_notifications", uint64_t{0}) >= notified_before + 2 && !d.is_null() &&
           d["online"] == true && d["unanswered"] == 0 && d["queued"] == 0;
  }));

  // A's next message reaches the new device as well as the first one, well
  // within the hour the device list would otherwise stay cached.
  json r2 = send_text(sup, "dva", user_jid(phone_b), "after the link");
  INFO(r2.dump());
  REQUIRE(r2.value("ok", false));
  CHECK(ev.wait_for([&](const std::vector<json>&) { return has_message(ev, "dvb2", "after the link"); }));
  CHECK(ev.wait_for([&](const std::vector<json>&) { return has_message(ev, "dvb", "after the link"); }));
  // The new device saw nothing from before it was linked.
  CHECK_FALSE(has_message(ev, "dvb2", "before the link"));
}
