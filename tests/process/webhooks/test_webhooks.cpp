// Webhooks end to end: wa-testserver, wa-supervisor with two paired
// accounts, wa-webhooks and a test receiver (receiver.py). The receiver
// misbehaves in every way a real one does (errors, hangs, crashes); what it
// holds at the end is compared with the profiles' durable logs.
#include <atomic>
#include <set>
#include <thread>

#include "webhook_harness.hpp"

using namespace harness;

namespace {

// Sends `n` texts from `from` to `to_phone` on `threads` threads; counts.
struct Traffic {
  std::atomic<int> sent{0}, failed{0};
  std::vector<std::thread> threads;
  Traffic(const Supervisor& sup, const std::string& from, const std::string& to_phone, int n, int nthreads) {
    for (int t = 0; t < nthreads; ++t)
      threads.emplace_back([&sup, from, to_phone, n, nthreads, t, this] {
        for (int i = t; i < n; i += nthreads) {
          try {
            json r = send_text(sup, from, user_jid(to_phone), "m" + std::to_string(i));
            r.value("ok", false) ? ++sent : ++failed;
          } catch (const std::exception&) {
            ++failed;
          }
        }
      });
  }
  void join() {
    for (auto& t : threads) t.join();
    threads.clear();
  }
  ~Traffic() { join(); }
};

size_t messages_in(const Supervisor& sup, const std::string& profile) {
  size_t n = 0;
  int64_t since = 0;
  for (;;) {
    json page = sup.call({{"cmd", "events"}, {"profile", profile}, {"since", since}, {"limit", 1000}});
    if (page["result"]["events"].empty()) return n;
    for (const auto& e : page["result"]["events"]) {
      since = e["seq"].get<int64_t>();
      n += e["type"] == "message";
    }
  }
}

}  // namespace

TEST_CASE("1000 messages while the receiver fails, hangs and crashes - every seq exactly once after de-duplication, in order") {
  Receiver rx;
  const json delivery{{"batch_max", 50},         {"timeout_ms", 400},           {"backoff_min_ms", 20},
                      {"backoff_max_ms", 200},   {"pause_after_failures", 100000}, {"pause_after_ms", 600000}};
  TwoAccounts acc("wha", "15550000711", "whb", "15550000712",
                  {{"webhooks", webhooks_config(rx.url(), json::array({"*"}), delivery)}});
  Webhooks deliverer(acc.sup);

  constexpr int kMessages = 1000;
  Traffic traffic(acc.sup, "wha", "15550000712", kMessages, 2);
  // 1. The receiver takes a few batches.
  REQUIRE(wait_slow([&] { return received(rx.deliveries()).requests >= 2; }, 60s));
  const int at_500 = traffic.sent;
  // 2. It answers 500 for a while (each phase lasts a few hundred messages).
  rx.set_mode("500");
  REQUIRE(wait_slow([&] { return rx.count("500") >= 5 && traffic.sent >= 200; }, 60s));
  // 3. Then it holds requests past the deliverer's timeout.
  const int at_hang = traffic.sent;
  rx.set_mode("hang");
  REQUIRE(wait_slow([&] { return rx.count("hang") >= 2 && traffic.sent >= 400; }, 60s));
  // 4. Then it crashes, mid-request, and stays down until the deliverer met a closed port.
  const int at_crash = traffic.sent;
  rx.set_mode("ok");  // for when it comes back
  rx.kill9();
  REQUIRE(wait_slow([&] {
    return deliverer.log_text().find("Couldn't connect") != std::string::npos && traffic.sent >= 600;
  }, 60s));
  const int at_back = traffic.sent;
  rx.restart();
  traffic.join();
  MESSAGE("sent at 500: ", at_500, ", at hang: ", at_hang, ", at crash: ", at_crash, ", back at: ", at_back);
  REQUIRE(traffic.failed == 0);
  REQUIRE(traffic.sent == kMessages);
  // The misbehaviour happened while the messages were arriving.
  CHECK(at_back < kMessages);
  REQUIRE(wait_slow([&] { return messages_in(acc.sup, "whb") >= kMessages; }, 60s));

  // Every event of both logs, once after de-duplication, in seq order.
  Received r;
  std::vector<int64_t> log_a, log_b;
  bool complete = wait_slow([&] {
    r = received(rx.deliveries());
    log_a = log_seqs(acc.sup, "wha");
    log_b = log_seqs(acc.sup, "whb");
    return holds_log(r, "wha", log_a) && holds_log(r, "whb", log_b);
  }, 120s);
  MESSAGE("log sizes ", log_a.size(), " / ", log_b.size(), "; requests taken ", r.requests, ", duplicates ",
          r.duplicates);
  CHECK(complete);
  CHECK(log_b.size() >= static_cast<size_t>(kMessages));
  for (const auto& p : r.problems) FAIL_CHECK(p);
  // At-least-once showed: batches held past the timeout were sent again.
  CHECK(r.duplicates > 0);
  // And the cursors reached the heads.
  CHECK(wait_until([&] { return delivery_state(acc.sup, "whb")["lag"] == 0; }, 20s));
}

TEST_CASE("kill -9 of wa-webhooks mid-batch - the restarted deliverer resumes from the cursor, no gap") {
  Receiver rx;
  rx.set_mode("slow");  // each request held 1.5 s: the kill certainly finds one in flight
  const json delivery{{"batch_max", 20}, {"timeout_ms", 5000}, {"backoff_min_ms", 20}, {"backoff_max_ms", 200}};
  TwoAccounts acc("wka", "15550000721", "wkb", "15550000722",
                  {{"webhooks", webhooks_config(rx.url(), json::array({"wkb"}), delivery)}});
  auto deliverer = std::make_unique<Webhooks>(acc.sup);
  Traffic traffic(acc.sup, "wka", "15550000722", 100, 4);
  traffic.join();
  REQUIRE(traffic.sent == 100);

  // A batch arrives after at least one was acknowledged: kill the deliverer while it is held.
  REQUIRE(wait_slow([&] { return delivery_state(acc.sup, "wkb")["cursor"].get<int64_t>() > 0 && rx.count("slow") >= 2; },
                    60s));
  const size_t before = rx.count("slow");
  REQUIRE(wait_until([&] { return rx.count("slow") > before; }, 20s));
  deliverer->stop(SIGKILL);
  const auto held = rx.deliveries().back();
  const int64_t held_first = held["body"]["events"][0]["seq"].get<int64_t>();
  const int64_t cursor = delivery_state(acc.sup, "wkb")["cursor"].get<int64_t>();
  MESSAGE("killed with batch from ", held_first, " in flight; cursor ", cursor);
  // The batch in flight was not acknowledged.
  CHECK(cursor < held_first);
  const size_t n_before = rx.deliveries().size();
  rx.set_mode("ok");
  deliverer->start();
  REQUIRE(wait_slow([&] { return rx.deliveries().size() > n_before; }, 30s));
  // The first batch after the restart starts right after the cursor.
  int64_t next = 0;
  for (int64_t s : log_seqs(acc.sup, "wkb"))
    if (s > cursor && next == 0) next = s;
  CHECK(rx.deliveries()[n_before]["body"]["events"][0]["seq"].get<int64_t>() == next);
  Received r;
  std::vector<int64_t> log;
  bool complete = wait_slow([&] {
    r = received(rx.deliveries());
    log = log_seqs(acc.sup, "wkb");
    return holds_log(r, "wkb", log);
  }, 60s);
  CHECK(complete);
  for (const auto& p : r.problems) FAIL_CHECK(p);
  // The profile the webhook does not cover got nothing.
  CHECK(r.first_seen.count("wka") == 0);
}

TEST_CASE("a webhook failing past pause_after_failures is paused with an event and resumes from its cursor, nothing lost") {
  Receiver rx;
  rx.set_mode("500");
  const json delivery{{"batch_max", 100}, {"timeout_ms", 2000}, {"backoff_min_ms", 20}, {"backoff_max_ms", 100},
                      {"pause_after_failures", 3}};
  TwoAccounts acc("wpa", "15550000731", "wpb", "15550000732",
                  {{"webhooks", webhooks_config(rx.url(), json::array({"wpb"}), delivery)}});
  Webhooks deliverer(acc.sup);
  Traffic first(acc.sup, "wpa", "15550000732", 5, 1);
  first.join();
  REQUIRE(first.sent == 5);

  // Paused after three failures: said in the profile's log, and in webhook_list.
  REQUIRE(acc.ev.wait_for([&](const auto&) { return !events_of(acc.ev.all(), "wpb", "webhook_paused").empty(); }, 30s));
  json paused = events_of(acc.ev.all(), "wpb", "webhook_paused").front();
  CHECK(paused["webhook"] == "crm");
  CHECK(paused["seq"].get<int64_t>() > 0);  // logged, not only live
  CHECK(paused["failures"] == 3);
  CHECK(paused["error"] == "HTTP 500");
  CHECK(rx.count("500") == 3);
  json state = delivery_state(acc.sup, "wpb");
  CHECK(state["state"] == "paused");
  CHECK(state["last_error"] == "HTTP 500");
  CHECK(state["paused_at"].is_number());
  const int64_t cursor = state["cursor"].get<int64_t>();
  CHECK(cursor == paused["cursor"].get<int64_t>());

  // More arrives while paused; the receiver is healthy again but hears nothing until resumed.
  rx.set_mode("ok");
  Traffic second(acc.sup, "wpa", "15550000732", 5, 1);
  second.join();
  REQUIRE(second.sent == 5);
  CHECK(delivery_state(acc.sup, "wpb")["state"] == "paused");
  CHECK(received(rx.deliveries()).requests == 0);

  json resumed = acc.sup.call({{"cmd", "webhook_resume"}, {"name", "crm"}});
  REQUIRE_MESSAGE(resumed.value("ok", false), resumed.dump());
  REQUIRE(resumed["result"]["resumed"].size() == 1);
  CHECK(resumed["result"]["resumed"][0]["profile"] == "wpb");
  CHECK(resumed["result"]["resumed"][0]["cursor"] == cursor);
  CHECK(acc.ev.wait_for([&](const auto&) { return !events_of(acc.ev.all(), "wpb", "webhook_resumed").empty(); }));
  // Everything after the cursor arrives: the ten messages, the pause and the resume.
  Received r;
  std::vector<int64_t> log;
  bool complete = wait_slow([&] {
    r = received(rx.deliveries());
    log = log_seqs(acc.sup, "wpb");
    return holds_log(r, "wpb", log, cursor);
  }, 60s);
  CHECK(complete);
  for (const auto& p : r.problems) FAIL_CHECK(p);
  std::set<std::string> types, texts;
  for (const auto& d : rx.deliveries())
    if (d["status"] == 200)
      for (const auto& e : d["body"]["events"]) {
        types.insert(e["type"].get<std::string>());
        if (e["type"] == "message") texts.insert(e.value("text", ""));
      }
  CHECK(types.count("webhook_paused") == 1);
  CHECK(types.count("webhook_resumed") == 1);
  for (int i = 0; i < 5; ++i) CHECK_MESSAGE(texts.count("m" + std::to_string(i)) == 1, i);
  CHECK(delivery_state(acc.sup, "wpb")["state"] == "active");
}

TEST_CASE("a webhook created at run time takes only its event types, and its cursor moves past the others") {
  Receiver rx;
  TwoAccounts acc("wra", "15550000741", "wrb", "15550000742");
  Webhooks deliverer(acc.sup);
  json created = acc.sup.call({{"cmd", "webhook_create"},
                               {"name", "crm"},
                               {"url", rx.url()},
                               {"secret", kSecret},
                               {"events", json::array({"message"})},
                               {"profiles", json::array({"wrb"})}});
  REQUIRE_MESSAGE(created.value("ok", false), created.dump());
  const int64_t start = created["result"]["deliveries"][0]["cursor"].get<int64_t>();
  Traffic traffic(acc.sup, "wra", "15550000742", 20, 2);
  traffic.join();
  REQUIRE(traffic.sent == 20);

  std::set<std::string> texts;
  bool all = wait_slow([&] {
    texts.clear();
    for (const auto& d : rx.deliveries())
      if (d["status"] == 200)
        for (const auto& e : d["body"]["events"]) texts.insert(e.value("text", ""));
    return texts.size() >= 20;
  }, 60s);
  CHECK(all);
  for (int i = 0; i < 20; ++i) CHECK_MESSAGE(texts.count("m" + std::to_string(i)) == 1, i);
  Received r = received(rx.deliveries());
  for (const auto& p : r.problems) FAIL_CHECK(p);
  // Only messages, only after the cursor the webhook started at, in order.
  std::vector<int64_t> messages;
  int64_t since = start;
  for (;;) {
    json page = acc.sup.call({{"cmd", "events"}, {"profile", "wrb"}, {"since", since}, {"limit", 1000}});
    if (page["result"]["events"].empty()) break;
    for (const auto& e : page["result"]["events"]) {
      since = e["seq"].get<int64_t>();
      if (e["type"] == "message") messages.push_back(since);
    }
  }
  CHECK(r.first_seen["wrb"] == messages);
  for (const auto& d : rx.deliveries())
    for (const auto& e : d["body"]["events"]) CHECK(e["type"] == "message");
  // The events it does not take were passed too: the cursor reaches the head.
  CHECK(wait_until([&] { return delivery_state(acc.sup, "wrb")["lag"] == 0; }, 20s));
}

TEST_CASE("a receiver that refuses large batches with 413 gets smaller ones - nothing lost") {
  Receiver rx;
  rx.set_mode("max4");
  const json delivery{{"batch_max", 64}, {"backoff_min_ms", 10}, {"backoff_max_ms", 50}, {"pause_after_failures", 1000}};
  TwoAccounts acc("wla", "15550000751", "wlb", "15550000752",
                  {{"webhooks", webhooks_config(rx.url(), json::array({"wlb"}), delivery)}});
  // Pile up events before the deliverer starts, so its first page is large.
  Traffic traffic(acc.sup, "wla", "15550000752", 40, 2);
  traffic.join();
  REQUIRE(traffic.sent == 40);
  REQUIRE(wait_slow([&] { return messages_in(acc.sup, "wlb") >= 40; }, 30s));
  Webhooks deliverer(acc.sup);
  Received r;
  std::vector<int64_t> log;
  bool complete = wait_slow([&] {
    r = received(rx.deliveries());
    log = log_seqs(acc.sup, "wlb");
    return holds_log(r, "wlb", log);
  }, 60s);
  CHECK(complete);
  for (const auto& p : r.problems) FAIL_CHECK(p);
  size_t refused = 0;
  for (const auto& d : rx.deliveries()) {
    if (d["status"] == 413) ++refused;
    if (d["status"] == 200) CHECK(d["body"]["events"].size() <= 4);
  }
  CHECK(refused > 0);
}
