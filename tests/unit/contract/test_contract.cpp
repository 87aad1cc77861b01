// The contract library: the command registry, the error registry, the
// timeout budget, and the docs rendered from them.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "wa/contract/commands.hpp"
#include "wa/contract/settings.hpp"
#include "wa/contract/deadlines.hpp"
#include "wa/contract/errors.hpp"

using namespace wa::contract;
using json = nlohmann::json;

namespace {

std::string read_file(const std::string& rel) {
  std::ifstream f(std::string(WA_SOURCE_DIR) + "/" + rel);
  REQUIRE_MESSAGE(f.good(), rel);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The text between <!-- NAME:begin --> and <!-- NAME:end -->.
std::string section(const std::string& text, const std::string& name) {
  const std::string b = "<!-- " + name + ":begin -->\n", e = "<!-- " + name + ":end -->";
  auto i = text.find(b);
  auto j = text.find(e);
  REQUIRE_MESSAGE(i != std::string::npos, "no marker " << b);
  REQUIRE_MESSAGE(j != std::string::npos, "no marker " << e);
  return text.substr(i + b.size(), j - i - b.size());
}

}  // namespace

TEST_CASE("the registry: unique names, every listed error registered, limits set where a kind needs one") {
  std::set<std::string_view> names, paths;
  for (const auto& c : commands()) {
    CHECK_MESSAGE(names.insert(c.name).second, c.name);
    if (!c.cli.empty()) CHECK_MESSAGE(paths.insert(c.cli).second, c.cli);
    CHECK_MESSAGE(!c.summary.empty(), c.name);
    CHECK_MESSAGE(!c.result.empty(), c.name);
    for (auto e : c.errors) {
      bool registered = false;
      for (const auto& spec : error_codes()) registered = registered || spec.code == e;
      CHECK_MESSAGE(registered, c.name << ": " << e);
    }
    for (const auto& f : c.fields) {
      if (f.kind == FieldKind::count || f.kind == FieldKind::people || f.kind == FieldKind::texts)
        CHECK_MESSAGE(f.max > 0, c.name << "." << f.name);
      if (f.kind == FieldKind::choice) CHECK_MESSAGE(!f.choices.empty(), c.name << "." << f.name);
      if (f.cli == Cli::option) CHECK_MESSAGE(f.flag.starts_with("--"), c.name << "." << f.name);
    }
    // What a send may leave behind is de-duplicated by a client id.
    if (c.sends) {
      bool has_client_id = false;
      for (const auto& f : c.fields) has_client_id = has_client_id || f.name == "client_id";
      CHECK_MESSAGE(has_client_id, c.name);
      CHECK(c.runs == Runs::account);
    }
  }
  CHECK(find_command("send_text") != nullptr);
  CHECK(find_command("nope") == nullptr);
}

TEST_CASE("errors: categories decide, families match their members only") {
  for (const char* c : {"disk_full", "io_error", "db_corrupt", "db_access", "db_error", "busy", "savepoint_lost",
                        "constraint"})
    CHECK_MESSAGE(is_store_error(c), c);
  for (const char* c : {"bad_request", "timeout", "unknown_outcome", "rejected:479", "no_session", ""})
    CHECK_MESSAGE(!is_store_error(c), c);
  CHECK(is_store_corrupt("db_corrupt"));
  CHECK_FALSE(is_store_corrupt("disk_full"));
  REQUIRE(find_error("rejected:479") != nullptr);
  CHECK(find_error("rejected:479")->code == "rejected:");
  CHECK(find_error("rejected:") == nullptr);
  CHECK(find_error("iq_error:403")->kind == ErrorKind::remote);
  CHECK(is_retryable("instance_down"));
  CHECK(is_retryable("disk_full"));
  CHECK_FALSE(is_retryable("unknown_outcome"));  // resending blindly may send twice
  CHECK_FALSE(is_retryable("bad_request"));
  CHECK_FALSE(is_retryable("no_such_code"));
  std::set<std::string_view> codes;
  for (const auto& e : error_codes()) CHECK_MESSAGE(codes.insert(e.code).second, e.code);
}

TEST_CASE("the timeout budget: every outer deadline covers the inner ones, and a config that cannot fit is refused") {
  SenderPolicy s;
  s.ack_timeout_ms = 150000;  // above the supervisor's old fixed 120 s
  const uint64_t send = route_deadline_ms(Deadline::send, s);
  CHECK(send >= static_cast<uint64_t>(s.queue_timeout_ms) + send_job_budget_ms(s));
  CHECK(send_job_budget_ms(s) >= static_cast<uint64_t>(s.ack_timeout_ms) + kSendIqRounds * kSenderIqTimeoutMs);
  CHECK(send > 150000);
  CHECK(route_deadline_ms(Deadline::iq, s) > kAccountIqTimeoutMs);
  CHECK(check_budget(s));
  CHECK(kClientWaitMs > kMaxRouteDeadlineMs);
  s.ack_timeout_ms = 600000;
  s.queue_timeout_ms = 600000;
  auto refused = check_budget(s);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == "bad_config");
  CHECK(refused.error().message.find("senders.ack_timeout_ms") != std::string::npos);
}

TEST_CASE("validation comes from the registry: kinds, limits, cross-field rules") {
  auto code = [](const json& req) {
    auto r = validate_request(req);
    return r ? std::string("ok") : r.error().code;
  };
  CHECK(code({{"cmd", "typing"}, {"profile", "p"}, {"chat", "1@s.whatsapp.net"}, {"state", "on"}}) == "ok");
  CHECK(code({{"cmd", "typing"}, {"profile", "p"}, {"chat", "1@s.whatsapp.net"}, {"state", "maybe"}}) ==
        "bad_request");
  CHECK(code({{"cmd", "log_level"}, {"level", "loud"}}) == "bad_request");
  CHECK(code({{"cmd", "log_level"}, {"level", "debug"}}) == "ok");
  CHECK(code({{"cmd", "send_text"}, {"profile", "p"}, {"to", "1@s.whatsapp.net"}, {"text", "x"},
              {"quoted_sender", "2@s.whatsapp.net"}}) == "bad_request");
  CHECK(code({{"cmd", "read"}, {"profile", "p"}, {"chat", "1-2@g.us"}, {"ids", {"A"}}}) == "bad_request");
  CHECK(code({{"cmd", "events"}, {"profile", "p"}, {"since", 0}, {"limit", kMaxReplayLimit + 1}}) == "bad_request");
  json args = routed_args({{"cmd", "send_text"}, {"profile", "p"}, {"to", "x"}, {"client_id", "c"}});
  CHECK(args == json{{"to", "x"}});
}

TEST_CASE("docs/CONTROL.md's command and error tables are the registries'") {
  std::string doc = read_file("docs/CONTROL.md");
  if (const char* u = std::getenv("WA_UPDATE_DOCS"); u != nullptr && std::string(u) == "1") {
    // WA_UPDATE_DOCS=1 unit_contract: write the rendered tables into the file.
    for (auto [name, table] : {std::pair{"commands", render_command_table()}, {"errors", render_error_table()}}) {
      const std::string b = std::string("<!-- ") + name + ":begin -->\n";
      auto i = doc.find(b);
      auto j = doc.find(std::string("<!-- ") + name + ":end -->");
      REQUIRE(i != std::string::npos);
      REQUIRE(j != std::string::npos);
      doc.replace(i + b.size(), j - i - b.size(), table);
    }
    std::ofstream(std::string(WA_SOURCE_DIR) + "/docs/CONTROL.md") << doc;
  }
  CHECK(section(doc, "commands") == render_command_table());
  CHECK(section(doc, "errors") == render_error_table());
}

TEST_CASE("the README's wactl table lists every registry subcommand") {
  const std::string readme = read_file("README.md");
  for (const auto& c : commands()) {
    if (c.cli.empty()) continue;
    CHECK_MESSAGE(readme.find("`wactl " + std::string(c.cli)) != std::string::npos, c.cli);
  }
}

TEST_CASE("a bare phone number in a chat or person field becomes the user's phone JID, on the socket as in wactl") {
  using wa::contract::normalize_request;
  using wa::contract::person_jid;
  CHECK(person_jid("+15551234567") == "15551234567@s.whatsapp.net");
  CHECK(person_jid("15551234567") == "15551234567@s.whatsapp.net");
  CHECK(person_jid("9001@lid") == "9001@lid");
  CHECK(person_jid("0123456") == "0123456");  // not a number in international form: left to the checks
  CHECK(person_jid("1234") == "1234");
  CHECK(person_jid("+1555x") == "+1555x");
  nlohmann::json send{{"cmd", "send_text"}, {"profile", "a"}, {"to", "+15551234567"}, {"text", "+15550000000"}};
  normalize_request(send);
  CHECK(send["to"] == "15551234567@s.whatsapp.net");
  CHECK(send["text"] == "+15550000000");  // text is text
  CHECK(wa::contract::validate_request(send).has_value());
  nlohmann::json bad{{"cmd", "send_text"}, {"profile", "a"}, {"to", "+1555"}, {"text", "x"}};
  normalize_request(bad);
  auto r = wa::contract::validate_request(bad);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "invalid_jid");
}

TEST_CASE("access: a command that sends is never read-only, a read-only one names no path, lifecycle is admin") {
  using wa::contract::Access;
  for (const auto& c : wa::contract::commands()) {
    INFO(std::string(c.name));
    if (c.sends) CHECK(c.access != Access::read);
    if (c.access == Access::read)
      for (const auto& f : c.fields) CHECK(f.kind != wa::contract::FieldKind::path);
  }
  for (const char* name : {"start", "stop", "restart", "remove", "pair_code", "logout", "shutdown", "log_level"})
    CHECK(wa::contract::find_command(name)->access == Access::admin);
  for (const char* name : {"status", "events", "ping"}) CHECK(wa::contract::find_command(name)->access == Access::read);
}

TEST_CASE("webhook delivery settings: what the supervisor hands out the deliverer reads back, bad values are errors") {
  wa::contract::WebhookDelivery d;
  d.batch_max = 7;
  d.pause_after_ms = 1234567;
  auto back = wa::contract::webhook_delivery_from_json(wa::contract::to_json(d));
  REQUIRE(back.has_value());
  CHECK(back->batch_max == 7);
  CHECK(back->pause_after_ms == 1234567);
  CHECK(back->timeout_ms == wa::contract::WebhookDelivery{}.timeout_ms);
  CHECK_FALSE(wa::contract::webhook_delivery_from_json(nlohmann::json{{"batch_max", "many"}}).has_value());
  CHECK_FALSE(wa::contract::webhook_delivery_from_json(nlohmann::json{{"batch_max", 0}}).has_value());
  CHECK_FALSE(wa::contract::webhook_delivery_from_json(nlohmann::json{{"timeout_ms", 1e300}}).has_value());
  CHECK_FALSE(wa::contract::webhook_delivery_from_json(nlohmann::json::array()).has_value());
}
