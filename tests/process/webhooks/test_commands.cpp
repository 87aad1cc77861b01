// The webhook commands through the control socket (no deliverer): what they
// refuse, that a cursor only moves forward and never past the log's head,
// and that cursors and pauses survive a supervisor restart.
#include "webhook_harness.hpp"

using namespace harness;

namespace {

json must(const Supervisor& sup, const json& req) {
  json r = sup.call(req);
  if (!r.value("ok", false)) throw std::runtime_error(req.dump() + " -> " + r.dump());
  return r["result"];
}

}  // namespace

TEST_CASE("webhook commands - create, list, refusals, forward-only acks, pause and resume, kept across a restart") {
  TempDir dir;
  const json where{{"run_dir", dir.path() + "/run"},
                   {"data_dir", dir.path() + "/data"},
                   {"webhooks", webhooks_config("http://127.0.0.1:9/hook", json::array({"alpha"}), json::object())}};
  int64_t head = 0;
  {
    Supervisor sup(where);
    EventLog ev(sup.run_dir());
    REQUIRE(sup.wait_running("alpha"));
    // The config's webhook: listed without its secret unless asked.
    json list = must(sup, {{"cmd", "webhook_list"}});
    REQUIRE(list["webhooks"].size() == 1);
    CHECK(list["webhooks"][0]["source"] == "config");
    CHECK_FALSE(list["webhooks"][0].contains("secret"));
    CHECK(must(sup, {{"cmd", "webhook_list"}, {"secrets", true}})["webhooks"][0]["secret"] == kSecret);
    CHECK(list["delivery"]["batch_max"] == 100);
    REQUIRE(list["webhooks"][0]["deliveries"].size() == 1);  // alpha only
    CHECK(list["webhooks"][0]["deliveries"][0]["profile"] == "alpha");

    CHECK(error_code(sup.call({{"cmd", "webhook_create"}, {"name", "crm"}, {"url", "http://x/"}, {"secret", "s"}})) ==
          "in_config");
    CHECK(error_code(sup.call({{"cmd", "webhook_delete"}, {"name", "crm"}})) == "in_config");
    CHECK(error_code(sup.call({{"cmd", "webhook_delete"}, {"name", "nope"}})) == "unknown_webhook");
    CHECK(error_code(sup.call({{"cmd", "webhook_create"}, {"name", "x"}, {"url", "ftp://x/"}, {"secret", "s"}})) ==
          "bad_request");
    CHECK(error_code(sup.call({{"cmd", "webhook_create"}, {"name", "a b"}, {"url", "http://x/"}, {"secret", "s"}})) ==
          "bad_request");
    CHECK(error_code(sup.call({{"cmd", "webhook_create"},
                               {"name", "x"},
                               {"url", "http://x/"},
                               {"secret", "s"},
                               {"profiles", json::array({"../etc"})}})) == "bad_request");

    // A run-time webhook starts at the head of each profile it covers.
    REQUIRE(wait_until([&] { return !log_seqs(sup, "beta").empty(); }));
    json created = must(sup, {{"cmd", "webhook_create"},
                              {"name", "ops"},
                              {"url", "https://example.invalid/h"},
                              {"secret", "k"},
                              {"events", json::array({"message"})}});
    CHECK(created["source"] == "runtime");
    CHECK(created["deliveries"].size() == 2);
    for (const auto& d : created["deliveries"]) CHECK(d["cursor"].get<int64_t>() > 0);
    CHECK(error_code(sup.call({{"cmd", "webhook_create"}, {"name", "ops"}, {"url", "http://x/"}, {"secret", "s"}})) ==
          "webhook_exists");
    CHECK(must(sup, {{"cmd", "webhook_list"}})["webhooks"].size() == 2);

    // Acks: forward only, never past the head, only for covered profiles.
    auto log = log_seqs(sup, "alpha");
    REQUIRE(log.size() >= 1);
    head = log.back();
    CHECK(must(sup, {{"cmd", "webhook_ack"}, {"name", "crm"}, {"profile", "alpha"}, {"seq", head}})["cursor"] == head);
    CHECK(must(sup, {{"cmd", "webhook_ack"}, {"name", "crm"}, {"profile", "alpha"}, {"seq", 0}})["cursor"] == head);
    CHECK(error_code(sup.call({{"cmd", "webhook_ack"}, {"name", "crm"}, {"profile", "alpha"}, {"seq", head + 1000}})) ==
          "bad_request");
    CHECK(error_code(sup.call({{"cmd", "webhook_ack"}, {"name", "crm"}, {"profile", "beta"}, {"seq", 1}})) ==
          "bad_request");
    CHECK(error_code(sup.call({{"cmd", "webhook_ack"}, {"name", "nope"}, {"profile", "alpha"}, {"seq", 1}})) ==
          "unknown_webhook");

    // Pause: once, with an event in the profile's log.
    json p = must(sup, {{"cmd", "webhook_pause"}, {"name", "crm"}, {"profile", "alpha"}, {"error", "HTTP 503"}, {"failures", 7}});
    CHECK(p["state"] == "paused");
    CHECK(p["already_paused"] == false);
    CHECK(must(sup, {{"cmd", "webhook_pause"}, {"name", "crm"}, {"profile", "alpha"}, {"error", "again"}})["already_paused"] ==
          true);
    REQUIRE(ev.wait_for([&](const auto&) { return ev.of("alpha", "webhook_paused").size() == 1; }));
    json pe = ev.of("alpha", "webhook_paused")[0];
    CHECK(pe["cursor"] == head);
    CHECK(pe["error"] == "HTTP 503");
    CHECK(pe["failures"] == 7);
    CHECK(delivery_state(sup, "alpha")["state"] == "paused");
    CHECK(delivery_state(sup, "alpha")["last_error"] == "HTTP 503");

    // wactl spells them "webhook create/list/delete".
    auto made = wactl(sup, {"webhook", "create", "cli", "http://127.0.0.1:9/c", "--secret", "k", "--events", "message",
                            "receipt", "--profiles", "beta"});
    CHECK_MESSAGE(made.first == 0, made.second);
    json cli = must(sup, {{"cmd", "webhook_list"}, {"name", "cli"}})["webhooks"][0];
    CHECK(cli["events"] == json::array({"message", "receipt"}));
    CHECK(cli["profiles"] == json::array({"beta"}));
    auto listed = wactl(sup, {"webhook", "list"});
    CHECK(listed.first == 0);
    CHECK(listed.second.find("\"cli\"") != std::string::npos);
    CHECK(listed.second.find("\"k\"") == std::string::npos);  // no secret unless asked
    CHECK(wactl(sup, {"webhook", "delete", "cli"}).first == 0);
    CHECK(wactl(sup, {"webhook", "delete", "cli"}).first != 0);

    // Deleting the run-time one drops it.
    CHECK(must(sup, {{"cmd", "webhook_delete"}, {"name", "ops"}})["deleted"] == true);
    CHECK(must(sup, {{"cmd", "webhook_list"}})["webhooks"].size() == 1);
  }
  {
    // A restarted supervisor keeps the cursor and the pause.
    Supervisor sup(where);
    EventLog ev(sup.run_dir());
    json d = delivery_state(sup, "alpha");
    CHECK(d["cursor"] == head);
    CHECK(d["state"] == "paused");
    json r = must(sup, {{"cmd", "webhook_resume"}, {"name", "crm"}, {"profile", "alpha"}});
    REQUIRE(r["resumed"].size() == 1);
    CHECK(r["resumed"][0]["cursor"] == head);
    CHECK(ev.wait_for([&](const auto&) { return ev.of("alpha", "webhook_resumed").size() == 1; }));
    CHECK(delivery_state(sup, "alpha")["state"] == "active");
    // Nothing left to resume.
    CHECK(must(sup, {{"cmd", "webhook_resume"}, {"name", "crm"}})["resumed"].empty());
  }
}

TEST_CASE("wa-webhooks outlives a supervisor kill -9 and delivers what the restarted one logs") {
  TempDir dir;
  Receiver rx;
  const json where{{"run_dir", dir.path() + "/run"},
                   {"data_dir", dir.path() + "/data"},
                   {"instances", json::array({{{"profile", "alpha"}}})},
                   {"webhooks", webhooks_config(rx.url(), json::array({"alpha"}),
                                                {{"backoff_min_ms", 10}, {"backoff_max_ms", 100}})}};
  auto first = std::make_unique<Supervisor>(where);
  REQUIRE(first->wait_running("alpha"));
  Webhooks deliverer(*first);
  auto delivered_all = [&](const Supervisor& sup) {
    return wait_slow([&] { return holds_log(received(rx.deliveries()), "alpha", log_seqs(sup, "alpha")); }, 30s);
  };
  REQUIRE(delivered_all(*first));
  const int64_t head_before = log_seqs(*first, "alpha").back();

  ::kill(first->pid(), SIGKILL);
  REQUIRE(wait_exit(first->pid(), 10s) != -1);
  first->forget();
  first.reset();
  reap_adopted();
  Supervisor second(where);
  REQUIRE(second.wait_running("alpha"));
  // The new supervisor's events (instance_started, …) reach the receiver
  // through the same deliverer, which reconnected on its own.
  CHECK(delivered_all(second));
  CHECK(log_seqs(second, "alpha").back() > head_before);
  for (const auto& p : received(rx.deliveries()).problems) FAIL_CHECK(p);
}
