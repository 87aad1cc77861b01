// wss://, as the real server speaks it: the local server with --chat-tls,
// the workers verifying it against the system's CAs, with the CA that
// issued its certificate added the way an operator adds a private CA
// (OpenSSL's SSL_CERT_DIR or SSL_CERT_FILE).
#include <doctest/doctest.h>
#include <stdlib.h>

#include <optional>
#include <string>

#include "wa_server.hpp"

using namespace harness;

namespace {

// One of OpenSSL's CA variables for the processes this test starts (they
// inherit it through the supervisor), the other one unset (a host may set
// either for every process); both as they were again after.
struct CaVariable {
  static constexpr const char* kNames[2] = {"SSL_CERT_FILE", "SSL_CERT_DIR"};
  std::optional<std::string> saved[2];
  CaVariable(const char* name, const std::string& value) {
    for (int i = 0; i < 2; ++i) {
      if (const char* v = std::getenv(kNames[i]); v != nullptr) saved[i] = v;
      ::unsetenv(kNames[i]);
    }
    REQUIRE(::setenv(name, value.c_str(), 1) == 0);
  }
  ~CaVariable() {
    for (int i = 0; i < 2; ++i) saved[i] ? ::setenv(kNames[i], saved[i]->c_str(), 1) : ::unsetenv(kNames[i]);
  }
};

constexpr const char* kSystemBundle = "/etc/ssl/certs/ca-certificates.crt";

}  // namespace

TEST_CASE("tls - over wss:// two accounts pair and message each other, the server verified against the CA store") {
  TestServer ts({"--chat-tls"});
  REQUIRE(ts.url().rfind("wss://", 0) == 0);
  // The system's directory first, as against the real server (read lazily,
  // as by default), then the local server's CA (DIR/media-ca.d).
  CaVariable cas("SSL_CERT_DIR", "/etc/ssl/certs:" + ts.state() + "/media-ca.d");
  Supervisor sup(config_for(ts, json::array({{{"profile", "tlsa"}}, {{"profile", "tlsb"}}})));
  EventLog ev(sup.run_dir());
  pair_by_qr(ts, ev, "tlsa", "15550000091");
  pair_by_qr(ts, ev, "tlsb", "15550000092");
  json r = send_text(sup, "tlsa", "15550000092@s.whatsapp.net", "over tls");
  INFO(r.dump());
  REQUIRE(r.value("ok", false));
  CHECK(!wait_message_with(ev, "tlsb", "text", "over tls").is_null());
}

TEST_CASE("tls - a worker does not talk to a wss:// server whose certificate no trusted CA issued") {
  TestServer ts({"--chat-tls"});
  CaVariable cas("SSL_CERT_FILE", kSystemBundle);  // the system's CAs only
  Supervisor sup(config_for(ts, json::array({{{"profile", "tlsx"}}})));
  EventLog ev(sup.run_dir());
  // It tries, fails the handshake, and backs off: no QR is ever shown.
  CHECK(ev.wait_for([&](const std::vector<json>& all) {
    for (const auto& e : events_of(all, "tlsx", "connection", "closed"))
      if (e.value("reason", "") == "connect_failed") return true;
    return false;
  }, 20s));
  CHECK(count_of(ev, "tlsx", "qr") == 0);
  CHECK(sup.log_text().find("verif") != std::string::npos);  // the reason, in the worker's log line
}
