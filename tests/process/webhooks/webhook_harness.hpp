// Harness of the webhook tests: the test receiver (receiver.py: records
// every delivery, answers as told, checks the signature), the wa-webhooks
// process, and the checks every test makes on what the receiver recorded.
#pragma once

#include <doctest/doctest.h>

#include <map>
#include <set>

#include "wa_server.hpp"

namespace harness {

inline const std::string kSecret = "s3cret-for-tests";

// Polls `cond` every 100 ms until it holds or the deadline passes (reading
// the receiver's record is too heavy for the 5 ms of wait_until).
inline bool wait_slow(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(100ms);  // polling interval, not synchronisation
  }
  return cond();
}

class Receiver {
 public:
  Receiver() {
    become_subreaper();
    start(0);
    port_ = std::stoi(read_port());
  }
  ~Receiver() { kill9(); }
  Receiver(const Receiver&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  void set_mode(const std::string& m) {
    std::ofstream(dir_.path() + "/mode.tmp") << m;
    std::filesystem::rename(dir_.path() + "/mode.tmp", dir_.path() + "/mode");
  }
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    wait_exit(pid_, 10s);
    pid_ = 0;
  }
  // The same port and record: a receiver that crashed and came back.
  void restart() {
    kill9();
    start(port_);
  }
  // The "done" records (one per request answered or held), oldest first.
  std::vector<json> deliveries() const {
    std::ifstream f(dir_.path() + "/deliveries.jsonl");
    std::vector<json> out;
    std::string line;
    while (std::getline(f, line)) {
      auto j = json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.value("phase", "") == "done") out.push_back(std::move(j));
    }
    return out;
  }
  size_t count(const std::string& mode) const {
    size_t n = 0;
    for (const auto& d : deliveries()) n += d.value("mode", "") == mode;
    return n;
  }

 private:
  void start(int port) {
    ::unlink((dir_.path() + "/port").c_str());
    pid_ = spawn({"/usr/bin/python3", WA_RECEIVER, "--dir", dir_.path(), "--secret", kSecret, "--port",
                  std::to_string(port), "--hang-s", "1.5", "--slow-ms", "1500"},
                 dir_.path() + "/receiver.log");
    if (!wait_until([&] { return !read_port().empty(); }, 20s)) throw std::runtime_error("receiver did not start");
  }
  std::string read_port() const {
    std::ifstream f(dir_.path() + "/port");
    std::string s;
    std::getline(f, s);
    return s;
  }
  TempDir dir_;
  pid_t pid_ = 0;
  int port_ = 0;
};

// wa-webhooks on the supervisor's config file.
class Webhooks {
 public:
  explicit Webhooks(const Supervisor& sup) : config_(sup.config_path()), log_(dir_.path() + "/wa-webhooks.log") { start(); }
  ~Webhooks() {
    stop(SIGTERM);  // first: the log then ends with its shutdown (and a sanitizer's report)
    if (std::getenv("WA_TEST_SHOW_LOG") != nullptr) std::fprintf(stderr, "%s", log_text().c_str());
  }
  Webhooks(const Webhooks&) = delete;
  void start() { pid_ = spawn({bin("wa-webhooks"), "--config", config_, "--scan-ms", "500", "-v"}, log_); }
  void stop(int sig) { stop_child(pid_, sig); }
  std::string log_text() const { return file_text(log_); }

 private:
  TempDir dir_;
  std::string config_, log_;
  pid_t pid_ = 0;
};

// The config's `webhooks` section for one endpoint at `url`.
inline json webhooks_config(const std::string& url, json profiles, json delivery) {
  return {{"endpoints", json::array({{{"name", "crm"}, {"url", url}, {"secret", kSecret}, {"profiles", profiles}}})},
          {"delivery", delivery}};
}

// Every seq in the profile's log, in order.
inline std::vector<int64_t> log_seqs(const Supervisor& sup, const std::string& profile) {
  std::vector<int64_t> out;
  int64_t since = 0;
  for (;;) {
    json r = sup.call({{"cmd", "events"}, {"profile", profile}, {"since", since}, {"limit", 1000}});
    if (!r.value("ok", false)) throw std::runtime_error("events: " + r.dump());
    if (r["result"]["events"].empty()) return out;
    for (const auto& e : r["result"]["events"]) out.push_back(since = e["seq"].get<int64_t>());
  }
}

inline json delivery_state(const Supervisor& sup, const std::string& profile) {
  json r = sup.call({{"cmd", "webhook_list"}, {"name", "crm"}});
  if (!r.value("ok", false)) throw std::runtime_error("webhook_list: " + r.dump());
  for (const auto& d : r["result"]["webhooks"][0]["deliveries"])
    if (d["profile"] == profile) return d;
  throw std::runtime_error("no delivery state for " + profile);
}

// What the receiver holds: the events of every request it answered 200 (or
// held past the timeout and then answered), de-duplicated by idempotency
// key, in the order they first arrived.
struct Received {
  std::map<std::string, std::vector<int64_t>> first_seen;  // per profile, in order of arrival
  size_t duplicates = 0;
  size_t requests = 0;
  std::vector<std::string> problems;  // bad signature, headers that disagree with the body, …
};

inline Received received(const std::vector<json>& deliveries) {
  Received r;
  std::set<std::string> keys;
  for (const auto& d : deliveries) {
    if (!d.value("sig_ok", false)) r.problems.push_back("bad signature: " + d["headers"].dump());
    if (d.value("status", 0) != 200) continue;
    ++r.requests;
    const json& body = d["body"];
    const std::string profile = body.value("profile", "");
    const json& events = body["events"];
    if (body.value("webhook", "") != "crm" || events.empty()) {
      r.problems.push_back("bad body: " + body.dump().substr(0, 200));
      continue;
    }
    const std::string first = std::to_string(events.front()["seq"].get<int64_t>());
    const std::string last = std::to_string(events.back()["seq"].get<int64_t>());
    const json& h = d["headers"];
    if (h.value("X-WA-Idempotency-Key", "") != profile + ":" + first ||
        h.value("X-WA-Delivery", "") != profile + ":" + first + "-" + last || h.value("X-WA-Webhook", "") != "crm")
      r.problems.push_back("headers disagree with the body: " + h.dump());
    for (const auto& e : events) {
      const int64_t seq = e["seq"].get<int64_t>();
      const std::string key = e.value("idempotency_key", "");
      if (key != profile + ":" + std::to_string(seq) || e.value("profile", "") != profile)
        r.problems.push_back("bad idempotency key " + key);
      if (keys.insert(key).second) {
        r.first_seen[profile].push_back(seq);
      } else {
        ++r.duplicates;
      }
    }
  }
  return r;
}

// The receiver holds exactly the log's events after `after` (no gap, no
// event twice once de-duplicated, in seq order).
inline bool holds_log(const Received& r, const std::string& profile, const std::vector<int64_t>& log, int64_t after = 0) {
  std::vector<int64_t> want;
  for (int64_t s : log)
    if (s > after) want.push_back(s);
  auto it = r.first_seen.find(profile);
  return it != r.first_seen.end() ? it->second == want : want.empty();
}

}  // namespace harness
