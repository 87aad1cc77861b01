// wactl: the operator's CLI over wa-supervisor's control and event sockets.
// Errors go to stderr with a non-zero exit code; `--json` prints replies as
// the supervisor sent them.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>

#include "wa/crypto_random.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/ipc/client.hpp"
#include "wa/ipc/fields.hpp"
#include "events_cli.hpp"
#include "pair_cli.hpp"
#include "wa/build_info.hpp"

namespace {

using wa::ipc::json;

// Where the supervisor's sockets are, when --run-dir/--socket are not given:
// $WA_RUN_DIR; else our own default run dir if a supervisor serves there;
// else the system service's (run_dir of /etc/wa-supervisor/config.json, or
// of $WA_CONFIG); else our default. `source` says which, for error messages.
struct RunDir {
  std::string path;
  std::string source;
};
RunDir find_run_dir() {
  if (const char* e = std::getenv("WA_RUN_DIR"); e != nullptr && e[0] == '/') return {e, "$WA_RUN_DIR"};
  const std::string mine = wa::ipc::default_run_dir();
  if (::access((mine + "/control.ipc").c_str(), F_OK) == 0) return {mine, "the default run dir"};
  const char* cfg = std::getenv("WA_CONFIG");
  const std::string cfg_path = cfg != nullptr && cfg[0] != 0 ? cfg : "/etc/wa-supervisor/config.json";
  if (std::ifstream f(cfg_path); f) {
    json c = json::parse(f, nullptr, false);
    if (c.is_object() && c.contains("run_dir") && c["run_dir"].is_string())
      return {c["run_dir"].get<std::string>(), "run_dir of " + cfg_path};
  }
  return {mine, "the default run dir"};
}

struct Options {
  std::string run_dir;
  std::string run_dir_source = "--run-dir";
  std::string socket;
  int timeout_ms = 180000;
  bool json_out = false;
};

int die(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "wactl: %s\n", msg.c_str());
  return code;
}

std::string control_url(const Options& o) {
  if (o.socket.empty()) return wa::ipc::control_url(o.run_dir);
  return o.socket.rfind("ipc://", 0) == 0 ? o.socket : "ipc://" + o.socket;
}

// Sends one request and prints the outcome. Exit code 0 only on ok.
std::string unreachable(const Options& o, const std::string& why) {
  const std::string where = o.socket.empty() ? o.run_dir + " (" + o.run_dir_source + ")" : control_url(o) + " (--socket)";
  return "cannot reach the supervisor: " + why + "\n  tried " + where +
         "\n  is wa-supervisor running? point wactl at it with --run-dir DIR or WA_RUN_DIR=DIR";
}

int call(const Options& o, const json& req, const std::function<void(const json&)>& print) {
  auto c = wa::ipc::ControlClient::connect(control_url(o), o.timeout_ms);
  if (!c) return die(unreachable(o, c.error().message));
  auto r = c->request(req);
  if (!r) {
    if (r.error().code == "timeout") return die("no reply from the supervisor (timeout)");
    if (r.error().code == "too_large") return die("too_large: " + r.error().message, 2);
    return die(r.error().message);
  }
  const json& reply = *r;
  if (o.json_out) std::cout << reply.dump() << std::endl;
  if (!reply.value("ok", false)) {
    const json& e = reply.value("error", json::object());
    return die(e.value("code", std::string("error")) + ": " + e.value("message", std::string()), 2);
  }
  if (!o.json_out && print) print(reply["result"]);
  return 0;
}

// A bare phone number (digits, an optional leading '+') is the user's phone
// JID; anything else goes to the supervisor as given (it checks JIDs).
std::string recipient_jid(const std::string& to) {
  std::string_view d = to;
  if (!d.empty() && d[0] == '+') d.remove_prefix(1);
  if (d.size() < 5 || d.size() > 20 || !std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return to;
  return std::string(d) + "@s.whatsapp.net";
}

std::string exit_text(const json& e) {
  if (!e.is_object()) return "-";
  if (e.contains("reason") && e["reason"].is_string()) {
    json plain = e;
    plain.erase("reason");
    return exit_text(plain) + " (" + e["reason"].get<std::string>() + ")";
  }
  if (e.contains("signal")) return "signal " + std::to_string(e["signal"].get<int>());
  if (e.contains("exit_code")) return "code " + std::to_string(e["exit_code"].get<int>());
  if (e.contains("error")) return "spawn error";
  return "-";
}

std::string linked_text(const json& l) {
  if (l.is_object()) return l.value("jid", std::string("?"));
  if (l.is_boolean()) return "not linked";
  return "-";  // not known yet (the worker has not reported)
}

std::string connection_text(const json& c) {
  if (!c.is_object()) return "-";
  std::string s = c.value("state", std::string("?"));
  if (c.contains("reason") && c["reason"].is_string()) s += " (" + c["reason"].get<std::string>() + ")";
  return s;
}

std::string duration_text(const json& ms) {
  if (!ms.is_number()) return "-";
  long long s = ms.get<long long>() / 1000;
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  if (s < 172800) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

void print_status(const json& r) {
  std::printf("%-16s %-13s %-28s %-22s %7s %8s %8s %7s %s\n", "PROFILE", "STATE", "LINKED AS", "CONNECTION", "PID",
              "UPTIME", "RESTARTS", "SENDERS", "LAST EXIT");
  for (const auto& i : r["instances"]) {
    std::string pid = i["connection_pid"].is_null() ? "-" : std::to_string(i["connection_pid"].get<int>());
    std::string state = i["state"].get<std::string>();
    if (i.contains("reason") && i["reason"].is_string()) state += "(" + i["reason"].get<std::string>() + ")";
    std::printf("%-16s %-13s %-28s %-22s %7s %8s %8llu %7zu %s\n", i["profile"].get<std::string>().c_str(),
                state.c_str(), linked_text(i.value("linked", json())).c_str(),
                connection_text(i.value("connection", json())).c_str(), pid.c_str(),
                duration_text(i.value("uptime_ms", json())).c_str(),
                static_cast<unsigned long long>(i["restarts"].get<uint64_t>()), i["senders"].size(),
                exit_text(i["last_exit"]).c_str());
  }
}

void print_group(const json& r) {
  std::printf("subject: %s\n", r.value("subject", std::string()).c_str());
  for (const auto& p : r.value("participants", json::array()))
    std::printf("  %s%s\n", p.value("jid", std::string()).c_str(), p.value("admin", false) ? " (admin)" : "");
}

int run(int argc, char** argv);

}  // namespace

// A reply of an unexpected shape (an older or newer supervisor) must give a
// clear error, not an abort from a JSON accessor while printing it.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const nlohmann::json::exception&) {
    return die("bad_reply: the supervisor's reply does not have the expected shape");
  }
}

namespace {

int run(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  Options o;
  CLI::App app{"wactl: control wa-supervisor"};
  app.set_version_flag("--version", std::string("wactl ") + wa::kVersion);
  app.require_subcommand(1);
  // Global flags are accepted after the subcommand too (`wactl status --json`).
  app.fallthrough();
  app.add_option("--run-dir", o.run_dir, "the supervisor's run directory (default: $WA_RUN_DIR, a running "
                                          "supervisor's default, or the run_dir of /etc/wa-supervisor/config.json)");
  app.add_option("--socket", o.socket, "control socket (path or ipc:// URL); overrides --run-dir");
  app.add_option("--timeout-ms", o.timeout_ms, "how long to wait for a reply");
  app.add_flag("--json", o.json_out, "print the supervisor's reply as JSON");

  auto* status = app.add_subcommand("status", "list instances");
  std::string status_profile;
  status->add_option("profile", status_profile, "only this profile");
  auto* ping = app.add_subcommand("ping", "check that the supervisor answers");
  std::string profile;
  auto* start = app.add_subcommand("start", "start an instance");
  start->add_option("profile", profile)->required();
  bool create = false;
  start->add_flag("--create", create, "create the profile if the config does not list it");
  auto* stop = app.add_subcommand("stop", "stop an instance (senders, then connection)");
  stop->add_option("profile", profile)->required();
  auto* restart = app.add_subcommand("restart", "stop and start an instance");
  restart->add_option("profile", profile)->required();
  auto* remove = app.add_subcommand("remove", "stop and forget a profile created at run time");
  remove->add_option("profile", profile)->required();
  bool purge = false, yes = false;
  remove->add_flag("--purge", purge, "also delete its data: credentials, Signal state, event log (needs --yes)");
  remove->add_flag("--yes", yes, "confirm --purge");
  auto* send = app.add_subcommand("send", "send a text message; waits for the server's answer");
  std::string to, text, client_id, quoted;
  send->add_option("profile", profile)->required();
  send->add_option("to", to, "recipient: a JID (15551234567@s.whatsapp.net, …@lid, …@g.us) or a bare phone number")
      ->required();
  send->add_option("text", text)->required();
  send->add_option("--client-id", client_id, "de-duplication id (default: random)");
  send->add_option("--reply-to,--reply", quoted, "reply to (quote) this message id");
  std::string quoted_sender;
  send->add_option("--reply-sender", quoted_sender, "author of the quoted message (default: looked up / the chat)");
  auto* ev = app.add_subcommand("events", "print events as JSON Lines until interrupted");
  wactl::EventsOptions eo;
  int64_t since = -1;
  bool no_follow = false;
  ev->add_option("--profile", eo.profile, "only this profile");
  ev->add_option("--since", since, "first replay this profile's logged events after SEQ (0: all kept)")
      ->check(CLI::NonNegativeNumber);
  ev->add_flag("--no-follow", no_follow, "with --since: stop at the end of the log");
  ev->add_option("--count", eo.max_events, "exit after printing this many events")->check(CLI::NonNegativeNumber);
  auto* pair = app.add_subcommand("pair", "link a profile to a WhatsApp account (QR in the terminal, or a code)");
  wactl::PairOptions po;
  pair->add_option("profile", po.profile)->required();
  pair->add_option("--phone", po.phone, "pair by phone-number code instead: the account's number, digits only");
  pair->add_option("--png", po.png_path, "write the QR code to this PNG file (mode 0600) instead of the terminal");
  pair->add_flag("--invert", po.invert, "draw dark modules as blocks (light terminal background)");
  pair->add_flag("--create", po.create, "create the profile if the config does not list it");
  pair->add_option("--wait-s", po.timeout_s, "give up after this many seconds")->capture_default_str();
  auto* check = app.add_subcommand("check", "integrity check of a stopped or failed profile's database (exit 2 if damaged)");
  check->add_option("profile", profile)->required();
  auto* recover = app.add_subcommand(
      "recover", "salvage a damaged profile database into a new file (the damaged one is kept); then start it");
  recover->add_option("profile", profile)->required();
  auto* log_level_cmd = app.add_subcommand("log-level", "set the log level of the supervisor and every worker, now");
  std::string level;
  log_level_cmd->add_option("level", level)->required()->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  auto* shutdown = app.add_subcommand("shutdown", "stop every instance and the supervisor");
  auto* raw = app.add_subcommand("call", "send one raw JSON request (from the argument) and print the reply");
  std::string raw_req;
  raw->add_option("request", raw_req, "the request; - reads it from stdin (for requests longer than an argument)")
      ->required();

  // Groups, read receipts, chat state: each one control request.
  auto* group = app.add_subcommand("group", "create and manage groups");
  group->require_subcommand(1);
  std::string gid, subject;
  std::vector<std::string> members;
  auto* g_create = group->add_subcommand("create", "create a group with these members; prints its JID");
  g_create->add_option("profile", profile)->required();
  g_create->add_option("subject", subject)->required();
  g_create->add_option("jid", members, "members, e.g. 15551234567@s.whatsapp.net")->required();
  auto* g_info = group->add_subcommand("info", "a group's subject and participants");
  g_info->add_option("profile", profile)->required();
  g_info->add_option("gid", gid, "the group, e.g. 123-456@g.us")->required();
  auto* g_add = group->add_subcommand("add", "add participants (exit 2 if any was not added)");
  auto* g_remove = group->add_subcommand("remove", "remove participants (exit 2 if any was not removed)");
  for (auto* sc : {g_add, g_remove}) {
    sc->add_option("profile", profile)->required();
    sc->add_option("gid", gid)->required();
    sc->add_option("jid", members)->required();
  }
  auto* read_cmd = app.add_subcommand("read", "mark messages of a chat as read (read receipt)");
  std::string chat, sender;
  std::vector<std::string> ids;
  read_cmd->add_option("profile", profile)->required();
  read_cmd->add_option("chat", chat, "the chat: user or group JID")->required();
  read_cmd->add_option("id", ids, "message ids")->required();
  read_cmd->add_option("--sender", sender, "the messages' author (required in a group)");
  auto* typing = app.add_subcommand("typing", "show or stop \"typing...\" in a chat");
  std::string typing_state;
  typing->add_option("profile", profile)->required();
  typing->add_option("chat", chat)->required();
  typing->add_option("state", typing_state)->required()->check(CLI::IsMember({"on", "off"}));

  // The first word that is not a global option must name a command: say so
  // plainly instead of CLI11's "A subcommand is required".
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--run-dir" || a == "--socket" || a == "--timeout-ms") {
      ++i;
      continue;
    }
    if (a.starts_with("-")) continue;
    bool known = false;
    for (const auto* sc : app.get_subcommands({})) known = known || sc->get_name() == a;
    if (!known) {
      std::fprintf(stderr, "wactl: unknown command '%.*s' (wactl --help lists them)\n", static_cast<int>(a.size()),
                   a.data());
      return 2;
    }
    break;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, like the
    // tools operators know (CLI11's own codes are 100+).
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (o.run_dir.empty()) {
    RunDir found = find_run_dir();
    o.run_dir = std::move(found.path);
    o.run_dir_source = std::move(found.source);
  }

  if (*status) {
    json req{{"cmd", "status"}};
    if (!status_profile.empty()) req["profile"] = status_profile;
    return call(o, req, print_status);
  }
  if (*ping) return call(o, {{"cmd", "ping"}}, [](const json&) { std::puts("pong"); });
  auto state_line = [](const json& r) {
    std::printf("%s: %s\n", r["profile"].get<std::string>().c_str(), r["state"].get<std::string>().c_str());
  };
  if (*start) {
    json req{{"cmd", "start"}, {"profile", profile}};
    if (create) req["create"] = true;
    return call(o, req, state_line);
  }
  if (*remove) {
    if (purge && !yes) return die("--purge deletes " + profile + "'s data for good: add --yes to confirm", 2);
    json req{{"cmd", "remove"}, {"profile", profile}};
    if (purge) req["purge"] = true;
    return call(o, req, [](const json& r) {
      std::printf("removed %s%s\n", r.value("profile", std::string()).c_str(),
                  r.value("purged", false) ? " (data deleted)" : " (data kept)");
    });
  }
  if (*log_level_cmd) {
    return call(o, {{"cmd", "log_level"}, {"level", level}},
                [](const json& r) { std::printf("log level %s\n", r.value("level", std::string()).c_str()); });
  }
  if (*stop) return call(o, {{"cmd", "stop"}, {"profile", profile}}, state_line);
  if (*restart) return call(o, {{"cmd", "restart"}, {"profile", profile}}, state_line);
  if (*send) {
    if (client_id.empty()) client_id = wa::random_hex(16);
    to = recipient_jid(to);
    json req{{"cmd", "send_text"}, {"profile", profile}, {"to", to}, {"text", text}, {"client_id", client_id}};
    if (!quoted.empty()) req["quoted_id"] = quoted;
    if (!quoted_sender.empty()) {
      if (quoted.empty()) return die("--reply-sender needs --reply");
      req["quoted_sender"] = quoted_sender;
    }
    return call(o, req, [](const json& r) {
      std::printf("sent %s\n", r.value("id", std::string("")).c_str());
    });
  }
  if (*ev) {
    if (!o.socket.empty()) return die("--socket names the control socket; use --run-dir for events");
    if (since >= 0) eo.since = since;
    if (no_follow && !eo.since) return die("--no-follow needs --since");
    eo.follow = !no_follow;
    eo.control_url = control_url(o);
    eo.events_url = wa::ipc::events_url(o.run_dir);
    eo.request_timeout_ms = std::min(o.timeout_ms, 30000);
    return wactl::run_events(eo);
  }
  if (*pair) {
    if (!o.socket.empty()) return die("pair needs the event socket too: use --run-dir");
    po.control_url = control_url(o);
    po.events_url = wa::ipc::events_url(o.run_dir);
    po.request_timeout_ms = std::min(o.timeout_ms, 30000);
    return wactl::run_pair(po);
  }
  if (*check) {
    bool intact = true;
    int rc = call(o, {{"cmd", "check"}, {"profile", profile}}, [&intact](const json& r) {
      intact = r.value("intact", false);
      if (intact) {
        std::printf("%s: database intact\n", r.value("profile", std::string()).c_str());
        return;
      }
      std::printf("%s: database DAMAGED\n", r.value("profile", std::string()).c_str());
      for (const auto& p : r.value("problems", json::array())) std::printf("  %s\n", p.get<std::string>().c_str());
    });
    if (rc == 0 && !intact && !o.json_out) return 2;
    return rc;
  }
  if (*recover) {
    return call(o, {{"cmd", "recover"}, {"profile", profile}}, [](const json& r) {
      std::printf("%s: recovered %zu rows; damaged file kept as %s\n", r.value("profile", std::string()).c_str(),
                  r.value("rows", size_t{0}), r.value("damaged_copy", std::string()).c_str());
      for (const auto& t : r.value("damaged_tables", json::array()))
        std::printf("  rows may be missing from %s\n", t.get<std::string>().c_str());
    });
  }
  if (*shutdown) return call(o, {{"cmd", "shutdown"}}, [](const json&) { std::puts("stopped"); });
  if (*g_create) {
    return call(o, {{"cmd", "group_create"}, {"profile", profile}, {"subject", subject}, {"participants", members}},
                [](const json& r) {
                  std::printf("created %s\n", r.value("gid", std::string()).c_str());
                  print_group(r);
                });
  }
  if (*g_info) return call(o, {{"cmd", "group_info"}, {"profile", profile}, {"gid", gid}}, print_group);
  if (*g_add || *g_remove) {
    bool partial = false;
    int rc = call(o, {{"cmd", *g_add ? "group_add" : "group_remove"}, {"profile", profile}, {"gid", gid},
                      {"participants", members}},
                  [&partial](const json& r) {
                    for (const auto& p : r["participants"]) {
                      std::string st = p.value("status", std::string());
                      std::printf("%s %s\n", p.value("jid", std::string()).c_str(), st == "200" ? "ok" : st.c_str());
                      partial = partial || st != "200";
                    }
                  });
    if (rc == 0 && partial) return die("some participants were not changed (status per participant above)", 2);
    return rc;
  }
  if (*read_cmd) {
    json req{{"cmd", "read"}, {"profile", profile}, {"chat", chat}, {"ids", ids}};
    if (!sender.empty()) req["sender"] = sender;
    return call(o, req, [](const json& r) { std::printf("read %d\n", r.value("read", 0)); });
  }
  if (*typing) {
    return call(o, {{"cmd", "typing"}, {"profile", profile}, {"chat", chat}, {"state", typing_state}},
                [](const json& r) { std::printf("typing %s\n", r.value("state", std::string()).c_str()); });
  }
  if (*raw) {
    auto c = wa::ipc::ControlClient::connect(control_url(o), o.timeout_ms);
    if (!c) return die(unreachable(o, c.error().message));
    if (raw_req == "-") raw_req.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    auto r = c->request_raw(raw_req);
    if (!r) return die(r.error().code + ": " + r.error().message, r.error().code == "too_large" ? 2 : 1);
    std::cout << *r << std::endl;
    auto j = wa::ipc::parse_json_text(wa::as_bytes(*r));
    if (!j || !wa::ipc::check_reply(*j)) return 2;
    auto ok = wa::ipc::field<bool>(*j, "ok");
    return ok && *ok ? 0 : 2;
  }
  return 0;
}

}  // namespace
