// Harness for the connection tests: a wa-testserver in its own temporary
// state directory, its admin commands, and a supervisor configured for it.
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "harness.hpp"

namespace harness {

class TestServer {
 public:
  // `serve_args`: extra `serve` flags, e.g. {"--addressing", "pn"} for the
  // 2024 phone-number world (the default is the LID-first server).
  explicit TestServer(std::vector<std::string> serve_args = {}) {
    become_subreaper();
    state_ = dir_.path() + "/ts";
    log_ = dir_.path() + "/testserver.log";
    start(std::move(serve_args), "127.0.0.1:0");
    root_ = read("root.pub").substr(0, 64);
  }
  ~TestServer() {
    if (std::getenv("WA_TEST_SHOW_LOG") != nullptr) std::fprintf(stderr, "%s", read_log().c_str());
    stop();
  }
  TestServer(const TestServer&) = delete;

  // The same server (state, port, root) started again with other flags:
  // clients reconnect to it as after any server restart.
  void restart(std::vector<std::string> serve_args) {
    stop();
    ::unlink((state_ + "/port").c_str());
    start(std::move(serve_args), "127.0.0.1:" + std::to_string(port_));
  }

  // wss:// when started with --chat-tls, as the real server.
  std::string url() const {
    return std::string(tls_ ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(port_) + "/ws/chat";
  }
  const std::string& root() const { return root_; }
  const std::string& state() const { return state_; }

  // Server settings for the supervisor config.
  // The media host's CA is written at start (DIR/media-ca.pem).
  json server_config() const {
    return {{"url", url()}, {"root_public_key", root_}, {"media_ca_file", state_ + "/media-ca.pem"}};
  }

  // Runs one admin command; returns its exit code and stdout.
  std::pair<int, std::string> admin(std::vector<std::string> args) const {
    std::string out = dir_.path() + "/admin.out";
    ::unlink(out.c_str());
    std::vector<std::string> argv{bin("wa-testserver")};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_t p = spawn(argv, out);
    int st = wait_exit(p, 20s);
    return {st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, file_text(out)};
  }
  std::pair<int, std::string> fault_jid(const std::string& jid, std::vector<std::string> action) const {
    std::vector<std::string> a{"fault", "--state", state_, "--jid", jid};
    a.insert(a.end(), action.begin(), action.end());
    return admin(a);
  }
  std::pair<int, std::string> fault_phone(const std::string& phone, std::vector<std::string> action) const {
    std::vector<std::string> a{"fault", "--state", state_, "--phone", phone};
    a.insert(a.end(), action.begin(), action.end());
    return admin(a);
  }

 private:
  std::string read(const std::string& name) const {
    std::ifstream f(state_ + "/" + name);
    std::string s;
    std::getline(f, s);
    return s;
  }
  std::string read_log() const { return file_text(log_); }
  void start(std::vector<std::string> serve_args, const std::string& listen) {
    std::vector<std::string> argv{bin("wa-testserver"), "serve", "--listen", listen, "--state", state_};
    argv.insert(argv.end(), serve_args.begin(), serve_args.end());
    tls_ = std::find(serve_args.begin(), serve_args.end(), "--chat-tls") != serve_args.end();
    pid_ = spawn(argv, log_);
    if (!wait_until([&] { return read("port").size() > 0 && read("root.pub").size() >= 64; }))
      throw std::runtime_error("wa-testserver did not start; log:\n" + read_log());
    port_ = std::stoi(read("port"));
  }
  void stop() { stop_child(pid_); }
  TempDir dir_;
  std::string state_, log_, root_;
  int port_ = 0;
  pid_t pid_ = 0;
  bool tls_ = false;
};

// Events of one profile with this type (and state, for `connection`).
inline std::vector<json> events_of(const std::vector<json>& all, const std::string& profile, const std::string& type,
                                   const std::string& state = "") {
  std::vector<json> out;
  for (const auto& e : all)
    if (e.value("profile", "") == profile && e.value("type", "") == type &&
        (state.empty() || e.value("state", "") == state))
      out.push_back(e);
  return out;
}
inline size_t count_of(EventLog& ev, const std::string& profile, const std::string& type, const std::string& state = "") {
  return events_of(ev.all(), profile, type, state).size();
}
// Waits until there are more than `already` such events.
inline bool wait_event(EventLog& ev, const std::string& profile, const std::string& type, const std::string& state,
                       size_t already, std::chrono::milliseconds t = 20s) {
  return ev.wait_for([&](const std::vector<json>& all) { return events_of(all, profile, type, state).size() > already; }, t);
}
inline json last_event(EventLog& ev, const std::string& profile, const std::string& type, const std::string& state = "") {
  auto v = events_of(ev.all(), profile, type, state);
  return v.empty() ? json() : v.back();
}

// Supervisor config for the server; `instances` autostart.
// The local server's state as its admin `status` reports it (accounts,
// devices, queues, counters).
inline json server_status(const TestServer& ts) {
  auto res = ts.admin({"status", "--state", ts.state(), "--json"});
  if (res.first != 0) throw std::runtime_error("status failed: " + res.second);
  return json::parse(res.second)["result"];
}

// A user's phone JID.
inline std::string user_jid(const std::string& phone) { return phone + "@s.whatsapp.net"; }

// The files a process has mapped whose name contains `part` (shared
// objects it loaded, say), each once.
inline std::vector<std::string> mapped_files(pid_t pid, const std::string& part) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::vector<std::string> found;
  for (std::string line; std::getline(maps, line);) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string file = line.substr(slash);
    if (file.find(part) != std::string::npos && (found.empty() || found.back() != file)) found.push_back(file);
  }
  return found;
}
// An event's `key` (chat, sender) in phone-number form: `key_pn` when the
// event names a LID, else `key` (docs/CONTROL.md, "Both identities").
inline std::string pn_of(const json& e, const std::string& key) {
  if (e.contains(key + "_pn") && e[key + "_pn"].is_string()) return e[key + "_pn"].get<std::string>();
  return e.value(key, "");
}

// One send_text request; the supervisor's reply as it came.
inline json send_text(const Supervisor& sup, const std::string& profile, const std::string& to, const std::string& text,
                      int timeout_ms = 60000) {
  return sup.call({{"cmd", "send_text"}, {"profile", profile}, {"to", to}, {"text", text}}, timeout_ms);
}

// The first `message` event of `profile` whose `key` equals `value` (an id,
// a text), waiting up to `t` for it; null when none came.
// A device JID's user: "155:3@lid" -> "155@lid".
inline std::string user_of(const std::string& device_jid) {
  auto colon = device_jid.find(':');
  auto at = device_jid.find('@');
  return device_jid.substr(0, colon == std::string::npos ? at : colon) + device_jid.substr(at);
}

inline json wait_message_with(EventLog& ev, const std::string& profile, const std::string& key, const std::string& value,
                              std::chrono::milliseconds t = 20s) {
  json found;
  ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, profile, "message"))
      if (e.value(key, "") == value) {
        found = e;
        return true;
      }
    return false;
  }, t);
  return found;
}

// Runs wactl against the supervisor; returns its exit status (-1: did not
// exit normally) and what it printed.
inline std::pair<int, std::string> wactl(const Supervisor& sup, std::vector<std::string> args) {
  std::string out = sup.run_dir() + "/wactl.out";
  ::unlink(out.c_str());
  std::vector<std::string> argv{bin("wactl"), "--run-dir", sup.run_dir()};
  argv.insert(argv.end(), args.begin(), args.end());
  int st = wait_exit(spawn(argv, out), 30s);
  std::ifstream f(out);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return {st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, text};
}

// The result of a control reply that must be ok (the test stops otherwise).
inline json ok(const json& r) {
  INFO(r.dump());
  REQUIRE(r.value("ok", false));
  return r["result"];
}

// One-time prekeys the server still holds for a device (-1: no such device).
inline long server_prekeys(const TestServer& ts, const std::string& device_jid) {
  json st = server_status(ts);
  for (const auto& a : st["accounts"])
    for (const auto& d : a["devices"])
      if (d["jid"] == device_jid) return d["prekeys"].get<long>();
  return -1;
}

// Whether `profile` announced a message with this text.
inline bool has_message(EventLog& ev, const std::string& profile, const std::string& text) {
  for (const auto& e : events_of(ev.all(), profile, "message"))
    if (e.value("text", "") == text) return true;
  return false;
}

inline json config_for(const TestServer& ts, json instances, json extra = json::object()) {
  json cfg{{"server", ts.server_config()}, {"instances", std::move(instances)}};
  cfg.merge_patch(extra);
  return cfg;
}

// Links `profile` (running, showing QR) to `phone` by QR; returns the open event.
inline json pair_by_qr(const TestServer& ts, EventLog& ev, const std::string& profile, const std::string& phone) {
  if (!wait_event(ev, profile, "qr", "", 0)) throw std::runtime_error("no qr event");
  std::string qr = last_event(ev, profile, "qr")["qr"];
  size_t opens = count_of(ev, profile, "connection", "open");
  auto res_rc = ts.admin({"scan", "--state", ts.state(), "--phone", phone, "--qr", qr});
  const int rc = res_rc.first;
  const std::string out = res_rc.second;
  if (rc != 0) throw std::runtime_error("scan failed: " + out);
  if (!wait_event(ev, profile, "connection", "open", opens)) throw std::runtime_error("not open after scan");
  return last_event(ev, profile, "connection", "open");
}

// Two of our accounts under one supervisor, both paired by QR: how most
// end-to-end tests begin.
struct TwoAccounts {
  TestServer ts;
  Supervisor sup;
  EventLog ev;
  std::string a_dev, b_dev;  // each account's own device JID

  TwoAccounts(const std::string& a, const std::string& phone_a, const std::string& b, const std::string& phone_b,
              json extra = json::object(), std::vector<std::string> serve_args = {},
              const std::function<void(TestServer&)>& before_pairing = nullptr)
      : ts(std::move(serve_args)),
        sup(config_for(ts, json::array({{{"profile", a}}, {{"profile", b}}}), std::move(extra))),
        ev(sup.run_dir()) {
    if (before_pairing) before_pairing(ts);
    auto open_a = pair_by_qr(ts, ev, a, phone_a);
    auto open_b = pair_by_qr(ts, ev, b, phone_b);
    a_dev = open_a["jid"];
    b_dev = open_b["jid"];
    a_lid = open_a.value("lid", "");
    b_lid = open_b.value("lid", "");
  }
  std::string a_lid, b_lid;  // each account's own device LID (from the open event)
};

}  // namespace harness
