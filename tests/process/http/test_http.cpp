// wa-http end to end: the real wa-supervisor (and wa-testserver for sends)
// driven through HTTP and the /v1/events WebSocket.
#include <doctest/doctest.h>
#include <openssl/sha.h>

#include <regex>

#include "http_client.hpp"
#include "wa/contract/commands.hpp"
#include "wa_server.hpp"

using namespace harness;
using httptest::request;
using httptest::Response;

namespace {

std::string sha256_hex(const std::string& s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  static const char* x = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out += x[c >> 4];
    out += x[c & 15];
  }
  return out;
}

const std::string kAdmin = "tok-admin-0123456789";
const std::string kSendAlpha = "tok-send-alpha";
const std::string kReadBeta = "tok-read-beta";
const std::string kReadAll = "tok-read-all";

json http_section(json extra = json::object()) {
  json h{{"listen", "127.0.0.1:0"},
         {"tokens",
          {{{"name", "admin"}, {"sha256", sha256_hex(kAdmin)}, {"scopes", {"admin"}}, {"profiles", {"*"}}},
           {{"name", "crm"}, {"sha256", sha256_hex(kSendAlpha)}, {"scopes", {"send"}}, {"profiles", {"alpha"}}},
           {{"name", "viewer"}, {"sha256", sha256_hex(kReadBeta)}, {"scopes", {"read"}}, {"profiles", {"beta"}}},
           {{"name", "monitor"}, {"sha256", sha256_hex(kReadAll)}, {"scopes", {"read"}}, {"profiles", {"*"}}}}},
         {"max_body_bytes", 4096},
         {"rate_per_s", 1000},
         {"rate_burst", 1000}};
  h.merge_patch(extra);
  return h;
}

// wa-http started on the supervisor's own config file.
class WaHttp {
 public:
  explicit WaHttp(const std::string& config_path) {
    log_ = config_path + ".http.log";
    pid_ = spawn({bin("wa-http"), "--config", config_path}, log_);
    std::regex re("listening on (https?)://127\\.0\\.0\\.1:([0-9]+)");
    if (!wait_until([&] {
          std::smatch m;
          std::string t = log_text();
          if (!std::regex_search(t, m, re)) return false;
          scheme_ = m[1];
          port_ = std::stoi(m[2]);
          return true;
        }))
      throw std::runtime_error("wa-http did not start; log:\n" + log_text());
  }
  // SIGTERM; the wait status (-1: still running after 5 s).
  int terminate() {
    ::kill(pid_, SIGTERM);
    int st = wait_exit(pid_, 5s);
    if (st != -1) pid_ = 0;
    return st;
  }
  ~WaHttp() {
    if (std::getenv("WA_TEST_SHOW_LOG") != nullptr) std::fprintf(stderr, "%s", log_text().c_str());
    if (pid_ == 0) return;
    ::kill(pid_, SIGTERM);
    if (wait_exit(pid_, 10s) == -1) {
      ::kill(pid_, SIGKILL);
      wait_exit(pid_, 5s);
    }
  }
  std::string url(const std::string& path) const {
    return scheme_ + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log_text() const { return file_text(log_); }

 private:
  std::string log_, scheme_;
  int port_ = 0;
  pid_t pid_ = 0;
};

std::string code_of(const Response& r) {
  json j = r.j();
  return j.is_object() && j.contains("error") ? j["error"].value("code", "") : "";
}

}  // namespace

TEST_CASE("wa-http: status, start, stop and bad requests each get the JSON envelope and their status") {
  Supervisor sup({{"instances", json::array({{{"profile", "alpha"}, {"autostart", false}},
                                             {{"profile", "beta"}, {"autostart", false}}})},
                  {"http", http_section()}});
  WaHttp http(sup.config_path());

  // Open routes.
  CHECK(request("GET", http.url("/healthz")).status == 200);
  CHECK(request("GET", http.url("/readyz")).status == 200);
  Response api = request("GET", http.url("/openapi.json"));
  CHECK(api.status == 200);
  CHECK(api.j()["paths"].contains("/v1/profiles/{profile}/send_text"));

  // 401: none, wrong.
  Response r = request("GET", http.url("/v1/status"));
  CHECK(r.status == 401);
  CHECK(code_of(r) == "unauthorized");
  CHECK(r.headers["www-authenticate"] == "Bearer");
  CHECK(request("GET", http.url("/v1/status"), "not-a-token").status == 401);

  // Status through GET; a token for some profiles sees only those.
  r = request("GET", http.url("/v1/status"), kAdmin);
  REQUIRE(r.status == 200);
  CHECK(r.j()["result"]["instances"].size() == 2);
  r = request("GET", http.url("/v1/status"), kReadBeta);
  REQUIRE(r.status == 200);
  REQUIRE(r.j()["result"]["instances"].size() == 1);
  CHECK(r.j()["result"]["instances"][0]["profile"] == "beta");
  CHECK(request("GET", http.url("/v1/profiles/alpha/status"), kReadBeta).status == 403);

  // 403: scope, profile.
  r = request("POST", http.url("/v1/profiles/beta/start"), kReadBeta, "{}");
  CHECK(r.status == 403);
  CHECK(code_of(r) == "forbidden");
  CHECK(request("POST", http.url("/v1/profiles/beta/send_text"), kSendAlpha, R"({"to":"15550001","text":"x"})").status ==
        403);

  // start / stop through POST, checked against the supervisor itself.
  r = request("POST", http.url("/v1/profiles/alpha/start"), kAdmin, "{}");
  CHECK(r.status == 200);
  CHECK(r.j()["ok"] == true);
  CHECK(wait_until([&] { return sup.state("alpha") != "stopped"; }));
  r = request("POST", http.url("/v1/profiles/alpha/start"), kAdmin, "");
  CHECK(r.status == 409);
  CHECK(code_of(r) == "already_running");
  r = request("POST", http.url("/v1/profiles/alpha/stop"), kAdmin, "{}");
  CHECK(r.status == 200);
  CHECK(sup.state("alpha") == "stopped");

  // 404s: unknown profile (the supervisor's answer), command, route.
  r = request("GET", http.url("/v1/profiles/nobody/status"), kAdmin);
  CHECK(r.status == 404);
  CHECK(code_of(r) == "unknown_profile");
  CHECK(code_of(request("POST", http.url("/v1/profiles/alpha/no_such_cmd"), kAdmin, "{}")) == "unknown_command");
  CHECK(request("GET", http.url("/v2/nothing"), kAdmin).status == 404);
  // 405: a send command is not a GET.
  r = request("GET", http.url("/v1/profiles/alpha/send_text"), kAdmin);
  CHECK(r.status == 405);
  CHECK(code_of(r) == "method_not_allowed");
  CHECK(code_of(request("DELETE", http.url("/v1/profiles/alpha/status"), kAdmin)) == "method_not_allowed");

  // Bad bodies: not JSON, not an object, a field of the wrong type, the
  // profile twice.
  r = request("POST", http.url("/v1/profiles/alpha/send_text"), kAdmin, "{\"to\": ");
  CHECK(r.status == 400);
  CHECK(code_of(r) == "bad_request");
  CHECK(code_of(request("POST", http.url("/v1/profiles/alpha/send_text"), kAdmin, "[1]")) == "bad_request");
  CHECK(code_of(request("POST", http.url("/v1/profiles/alpha/send_text"), kAdmin, R"({"to": 5, "text": "x"})")) ==
        "bad_request");
  CHECK(code_of(request("POST", http.url("/v1/profiles/alpha/stop"), kAdmin, R"({"profile": "beta"})")) ==
        "bad_request");
  CHECK(code_of(request("GET", http.url("/v1/profiles/alpha/events?since=x"), kAdmin)) == "bad_request");
  CHECK(code_of(request("POST", http.url("/v1/profiles/alpha/send_text"), kAdmin, "{\"to\": \"1e400\", \"n\": 1e400}")) ==
        "bad_request");

  // 413 before the body is read.
  r = request("POST", http.url("/v1/profiles/alpha/send_text"), kAdmin, std::string(5000, 'x'));
  CHECK(r.status == 413);
  CHECK(code_of(r) == "too_large");
  // Still serving.
  CHECK(request("GET", http.url("/v1/ping"), kAdmin).status == 200);
  CHECK(sup.ping());
}

TEST_CASE("wa-http: a body within max_body_bytes but over the control socket's limit is 413 too_large, never sent") {
  Supervisor sup({{"instances", json::array({{{"profile", "alpha"}, {"autostart", false}}})},
                  {"http", http_section({{"max_body_bytes", 1048576}})}});
  WaHttp http(sup.config_path());
  Response r = request("POST", http.url("/v1/profiles/alpha/send_text"), kAdmin,
                       json{{"to", "15550001"}, {"text", std::string(400000, 'x')}}.dump());
  CHECK(r.status == 413);
  CHECK(code_of(r) == "too_large");
  CHECK(request("GET", http.url("/v1/ping"), kAdmin).status == 200);
}

TEST_CASE("wa-http: a token over its rate gets 429 with Retry-After, other tokens do not") {
  Supervisor sup({{"instances", json::array({{{"profile", "alpha"}, {"autostart", false}}})},
                  {"http", http_section({{"rate_per_s", 1}, {"rate_burst", 3}})}});
  WaHttp http(sup.config_path());
  int ok = 0, limited = 0;
  Response last;
  for (int i = 0; i < 6; ++i) {
    Response r = request("GET", http.url("/v1/ping"), kReadBeta);
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++limited;
      last = r;
    }
  }
  CHECK(ok >= 3);
  CHECK(limited >= 2);
  CHECK(code_of(last) == "rate_limited");
  CHECK(!last.headers["retry-after"].empty());
  CHECK(request("GET", http.url("/v1/ping"), kAdmin).status == 200);
}

TEST_CASE("wa-http: events page, long poll woken by an event, WebSocket replays then follows in order") {
  Supervisor sup({{"instances", json::array({{{"profile", "alpha"}, {"autostart", false}},
                                             {{"profile", "beta"}, {"autostart", false}}})},
                  {"http", http_section()}});
  WaHttp http(sup.config_path());
  // Some logged events: start and stop alpha.
  REQUIRE(request("POST", http.url("/v1/profiles/alpha/start"), kAdmin, "{}").status == 200);
  REQUIRE(request("POST", http.url("/v1/profiles/alpha/stop"), kAdmin, "{}").status == 200);
  Response page = request("GET", http.url("/v1/profiles/alpha/events?since=0&limit=1000"), kAdmin);
  REQUIRE(page.status == 200);
  json evs = page.j()["result"]["events"];
  REQUIRE(evs.size() >= 2);
  const int64_t head = page.j()["result"]["last_seq"].get<int64_t>();
  CHECK(request("GET", http.url("/v1/profiles/alpha/events?since=0&limit=1"), kAdmin).j()["result"]["events"].size() == 1);

  // A long poll with nothing new answers an empty page after its wait.
  auto t0 = std::chrono::steady_clock::now();
  Response empty = request("GET", http.url("/v1/profiles/alpha/events?since=" + std::to_string(head) + "&wait_ms=300"), kAdmin);
  CHECK(empty.status == 200);
  CHECK(empty.j()["result"]["events"].empty());
  CHECK(std::chrono::steady_clock::now() - t0 >= 250ms);

  // The WebSocket: the log from since=0, then live.
  httptest::WsReader ws(http.port(), "/v1/events?since=0&profile=alpha&access_token=" + kAdmin);
  REQUIRE(ws.upgraded());
  std::vector<int64_t> seqs;
  while (static_cast<int64_t>(seqs.size()) < static_cast<int64_t>(evs.size())) {
    auto f = ws.next();
    REQUIRE(f);
    seqs.push_back(json::parse(*f)["seq"].get<int64_t>());
  }
  // A long poll in flight while alpha starts again: it wakes with the event.
  std::thread starter([&] {
    std::this_thread::sleep_for(200ms);  // lets the poll park first (the test holds either way)
    request("POST", http.url("/v1/profiles/alpha/start"), kAdmin, "{}");
  });
  t0 = std::chrono::steady_clock::now();
  Response woke = request("GET", http.url("/v1/profiles/alpha/events?since=" + std::to_string(head) + "&wait_ms=20000"), kAdmin);
  starter.join();
  CHECK(woke.status == 200);
  REQUIRE_FALSE(woke.j()["result"]["events"].empty());
  CHECK(woke.j()["result"]["events"][0]["seq"].get<int64_t>() == head + 1);
  CHECK(std::chrono::steady_clock::now() - t0 < 15s);
  // The WebSocket follows: the new events, each once, in order.
  REQUIRE(request("POST", http.url("/v1/profiles/alpha/stop"), kAdmin, "{}").status == 200);
  Response all = request("GET", http.url("/v1/profiles/alpha/events?since=0&limit=1000"), kAdmin);
  const int64_t last = all.j()["result"]["last_seq"].get<int64_t>();
  while (seqs.back() < last) {
    auto f = ws.next();
    REQUIRE(f);
    json e = json::parse(*f);
    CHECK(e["profile"] == "alpha");
    seqs.push_back(e["seq"].get<int64_t>());
  }
  for (size_t i = 0; i < seqs.size(); ++i) CHECK(seqs[i] == static_cast<int64_t>(i + 1));

  // `since` per profile: alpha from seq 2 on.
  httptest::WsReader from2(http.port(), "/v1/events?since=alpha:2,beta:0&profile=alpha&access_token=" + kAdmin);
  REQUIRE(from2.upgraded());
  auto first = from2.next();
  REQUIRE(first);
  CHECK(json::parse(*first)["seq"] == 3);
  httptest::WsReader bad_since(http.port(), "/v1/events?since=alpha:x&access_token=" + kAdmin);
  CHECK(bad_since.head().find(" 400 ") != std::string::npos);

  // Without a token, or for a profile the token may not see: refused with
  // the envelope before the upgrade.
  httptest::WsReader anon(http.port(), "/v1/events?since=0");
  CHECK_FALSE(anon.upgraded());
  CHECK(anon.head().find(" 401 ") != std::string::npos);
  httptest::WsReader other(http.port(), "/v1/events?since=0&profile=alpha&access_token=" + kReadBeta);
  CHECK_FALSE(other.upgraded());
  CHECK(other.head().find(" 403 ") != std::string::npos);
  // A token for beta only, every profile: only beta's events.
  httptest::WsReader beta_only(http.port(), "/v1/events?since=0&access_token=" + kReadBeta);
  REQUIRE(beta_only.upgraded());
  REQUIRE(request("POST", http.url("/v1/profiles/beta/start"), kAdmin, "{}").status == 200);
  auto f = beta_only.next();
  REQUIRE(f);
  CHECK(json::parse(*f)["profile"] == "beta");
}

TEST_CASE("wa-http: send_text through HTTP reaches the other account, and qr.svg shows a live QR to admins only") {
  TwoAccounts t("alpha", "15550101", "beta", "15550102", {{"http", http_section()}});
  // A third account waiting to be paired shows its QR.
  WaHttp http(t.sup.config_path());
  Response r = request("POST", http.url("/v1/profiles/alpha/send_text"), kSendAlpha,
                       json{{"to", "15550102"}, {"text", "hello over http"}}.dump());
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.j()["result"].contains("id"));
  CHECK(wait_until([&] { return has_message(t.ev, "beta", "hello over http"); }, 20s));

  // The QR's secret reaches admin tokens only: live on the WebSocket, and
  // in the log's copies (which the log itself keeps without it).
  httptest::WsReader admin_ws(http.port(), "/v1/events?since=0&access_token=" + kAdmin);
  httptest::WsReader monitor_ws(http.port(), "/v1/events?since=0&access_token=" + kReadAll);
  REQUIRE(admin_ws.upgraded());
  REQUIRE(monitor_ws.upgraded());
  REQUIRE(request("POST", http.url("/v1/profiles/gamma/start"), kAdmin, R"({"create": true})").status == 200);
  REQUIRE(wait_event(t.ev, "gamma", "qr", "", 0));
  auto first_qr = [](httptest::WsReader& ws) {
    for (;;) {
      auto f = ws.next(20000);
      if (!f) return json();
      json e = json::parse(*f);
      if (e.value("profile", "") == "gamma" && e.value("type", "") == "qr") return e;
    }
  };
  json admin_qr = first_qr(admin_ws), monitor_qr = first_qr(monitor_ws);
  REQUIRE(admin_qr.is_object());
  REQUIRE(monitor_qr.is_object());
  CHECK(admin_qr["qr"].is_string());
  CHECK_FALSE(monitor_qr.contains("qr"));
  CHECK(admin_qr["seq"] == monitor_qr["seq"]);
  auto page_qr = [&](const std::string& tok) {
    json page = request("GET", http.url("/v1/profiles/gamma/events?since=0"), tok).j();
    for (const auto& e : page["result"]["events"])
      if (e["seq"] == admin_qr["seq"]) return e;
    return json();
  };
  CHECK(page_qr(kAdmin).value("qr", "") == admin_qr["qr"].get<std::string>());
  CHECK_FALSE(page_qr(kReadAll).contains("qr"));
  CHECK(page_qr(kReadAll)["type"] == "qr");
  Response svg;
  CHECK(wait_until([&] {
    svg = request("GET", http.url("/v1/profiles/gamma/qr.svg"), kAdmin);
    return svg.status == 200;
  }));
  CHECK(svg.body.find("<svg") != std::string::npos);
  CHECK(svg.headers["content-type"] == "image/svg+xml");
  CHECK(request("GET", http.url("/v1/profiles/gamma/qr.svg"), kSendAlpha).status == 403);
  CHECK(code_of(request("GET", http.url("/v1/profiles/alpha/qr.svg"), kAdmin)) == "not_found");  // linked: none
}

TEST_CASE("wa-http: /metrics renders the supervisor's metrics command and the webhooks' cursors") {
  json hooks{{"endpoints", json::array({{{"name", "crm"}, {"url", "http://127.0.0.1:9/hook"}, {"secret", "s3cr3t"}}})}};
  Supervisor sup({{"instances", json::array({{{"profile", "alpha"}, {"autostart", false}}})},
                  {"http", http_section()},
                  {"webhooks", hooks}});
  WaHttp http(sup.config_path());
  CHECK(request("GET", http.url("/metrics")).status == 401);
  Response m = request("GET", http.url("/metrics"), kReadBeta);
  REQUIRE(m.status == 200);
  INFO(m.body);
  CHECK(m.body.find("wa_instance_up{profile=\"alpha\"} 0") != std::string::npos);
  CHECK(m.body.find("# TYPE wa_restarts_total counter") != std::string::npos);
  CHECK(m.body.find("wa_supervisor_instances 1\n") != std::string::npos);
  CHECK(m.body.find("wa_webhook_cursor{webhook=\"crm\",profile=\"alpha\"} ") != std::string::npos);
  CHECK(m.body.find("wa_webhook_paused{webhook=\"crm\",profile=\"alpha\"} 0") != std::string::npos);
  CHECK(m.body.find("s3cr3t") == std::string::npos);
}

TEST_CASE("wa-http: readyz is 503 while the supervisor is down, healthz stays 200") {
  Supervisor sup({{"instances", json::array()}, {"http", http_section()}});
  WaHttp http(sup.config_path());
  CHECK(request("GET", http.url("/readyz")).status == 200);
  ::kill(sup.pid(), SIGTERM);
  REQUIRE(wait_exit(sup.pid(), 10s) != -1);
  sup.forget();
  Response r = request("GET", http.url("/readyz"));
  CHECK(r.status == 503);
  CHECK(code_of(r) == "not_connected");
  CHECK(request("GET", http.url("/healthz")).status == 200);
  // A client still connected does not hold the process: SIGTERM ends it.
  httptest::WsReader ws(http.port(), "/v1/events?since=0&access_token=" + kAdmin);
  CHECK(ws.upgraded());
  int st = http.terminate();
  REQUIRE(st != -1);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
}

TEST_CASE("wa-http: HTTPS with a configured certificate (made by openssl at test time)") {
  TempDir certs;
  const std::string cert = certs.path() + "/cert.pem", key = certs.path() + "/key.pem";
  auto made = run_program({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
                           cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"},
                          certs.path() + "/openssl.out");
  REQUIRE(made.first == 0);
  Supervisor sup({{"instances", json::array({{{"profile", "alpha"}, {"autostart", false}}})},
                  {"http", http_section({{"tls", {{"cert", cert}, {"key", key}}}})}});
  WaHttp http(sup.config_path());
  REQUIRE(http.url("/").rfind("https://", 0) == 0);
  Response r = request("GET", http.url("/v1/status"), kAdmin, std::nullopt, 10000, cert);
  INFO(r.body);
  CHECK(r.status == 200);
  CHECK(r.j()["result"]["instances"].size() == 1);
  // Plain HTTP on the TLS port gets no API answer.
  std::string plain = "http://127.0.0.1:" + std::to_string(http.port()) + "/v1/status";
  CHECK(request("GET", plain, kAdmin, std::nullopt, 3000).status != 200);
}

TEST_CASE("wa-http: an upload is written 0600 under upload_dir and its path answered, within its limit") {
  TempDir files;
  const std::string root = files.path() + "/outbox";
  Supervisor sup({{"instances", json::array({{{"profile", "alpha"}, {"autostart", false}}})},
                  {"media", {{"allowed_roots", {root}}}},
                  {"http", http_section({{"upload_dir", root + "/http"}, {"upload_max_bytes", 100000}})}});
  WaHttp http(sup.config_path());
  std::string body(70000, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7 % 251);
  Response r = request("POST", http.url("/v1/profiles/alpha/media?name=photo.jpg"), kSendAlpha, body);
  INFO(r.body);
  REQUIRE(r.status == 200);
  const std::string path = r.j()["result"]["path"];
  CHECK(path.rfind(root + "/http/alpha/", 0) == 0);
  CHECK(path.size() > 4);
  CHECK(path.substr(path.size() - 4) == ".jpg");
  CHECK(file_mode(path) == 0600);
  std::ifstream f(path, std::ios::binary);
  std::string got((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  CHECK(got == body);
  // Over the limit: 413 and nothing left behind; another profile: 403.
  r = request("POST", http.url("/v1/profiles/alpha/media"), kSendAlpha, std::string(100001, 'x'));
  CHECK(r.status == 413);
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(root + "/http/alpha")) n += e.is_regular_file();
  CHECK(n == 1);
  CHECK(request("POST", http.url("/v1/profiles/beta/media"), kSendAlpha, "x").status == 403);
  CHECK(request("POST", http.url("/v1/profiles/alpha/media"), kReadBeta, "x").status == 403);
}

TEST_CASE("wa-http: the dashboard directory is served at / and /dashboard/, nothing outside it") {
  TempDir dash;
  std::ofstream(dash.path() + "/index.html") << "<!doctype html><title>wa</title>";
  std::ofstream(dash.path() + "/app.js") << "console.log(1)";
  std::ofstream(dash.path() + "/.secret") << "no";
  Supervisor sup({{"instances", json::array()}, {"http", http_section({{"dashboard_dir", dash.path()}})}});
  WaHttp http(sup.config_path());
  Response r = request("GET", http.url("/"));
  CHECK(r.status == 200);
  CHECK(r.body.find("<title>wa</title>") != std::string::npos);
  CHECK(r.headers["content-type"].rfind("text/html", 0) == 0);
  r = request("GET", http.url("/dashboard/app.js"));
  CHECK(r.status == 200);
  CHECK(r.headers["content-type"].rfind("text/javascript", 0) == 0);
  CHECK(request("GET", http.url("/dashboard/.secret")).status == 404);
  CHECK(request("GET", http.url("/dashboard/missing.css")).status == 404);
  CHECK(request("GET", http.url("/dashboard/%2e%2e/config.json")).status == 404);
}
