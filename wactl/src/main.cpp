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
#include <map>

#include "wa/ipc/addresses.hpp"
#include "wa/ipc/client.hpp"
#include "wa/ipc/fields.hpp"
#include "commands_cli.hpp"
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
  // As long as the supervisor may take to answer (wa/contract/deadlines.hpp).
  int timeout_ms = static_cast<int>(wa::contract::kClientWaitMs);
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

// `print` shows a successful result and returns the exit code (0, or 2 when
// the result itself reports a failure, e.g. a damaged database); with --json
// the reply is printed as it came and the exit code says only ok or not.
using Printer = std::function<int(const json& result)>;

int call(const Options& o, const json& req, const Printer& print) {
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
  // --json prints the reply as it came (the caller reads the result).
  if (!o.json_out && print) return print(reply["result"]);
  return 0;
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

int print_blocked(const json& r) {
  for (const auto& b : r.value("blocked", json::array()))
    std::printf("%s%s\n", b.value("jid", std::string()).c_str(),
                b.contains("pn_jid") ? (" (" + b.value("pn_jid", std::string()) + ")").c_str() : "");
  return 0;
}

void print_group(const json& r) {
  std::printf("subject: %s\n", r.value("subject", std::string()).c_str());
  if (!r.value("description", std::string()).empty())
    std::printf("description: %s\n", r.value("description", std::string()).c_str());
  if (r.value("announce", false)) std::puts("announce: only admins send");
  if (r.value("locked", false)) std::puts("locked: only admins edit the group's info");
  for (const auto& p : r.value("participants", json::array())) {
    // A LID group names members by LID: the phone number goes beside it.
    std::string pn = p.contains("jid_pn") ? " " + p.value("jid_pn", std::string()) : std::string();
    std::printf("  %s%s%s\n", p.value("jid", std::string()).c_str(), pn.c_str(),
                p.value("admin", false) ? " (admin)" : "");
  }
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

// How wactl shows each registry command's result; a command without an
// entry prints its result as JSON. The exit code is 0 unless the result
// itself reports a failure.
const std::map<std::string_view, Printer>& printers() {
  auto state_line = [](const json& r) {
    std::printf("%s: %s\n", r["profile"].get<std::string>().c_str(), r["state"].get<std::string>().c_str());
    return 0;
  };
  auto changed = [](const json& r) {
    bool partial = false;
    for (const auto& p : r["participants"]) {
      std::string st = p.value("status", std::string());
      std::printf("%s %s\n", p.value("jid", std::string()).c_str(), st == "200" ? "ok" : st.c_str());
      partial = partial || st != "200";
    }
    if (partial) std::fprintf(stderr, "wactl: some participants were not changed (status per participant above)\n");
    return partial ? 2 : 0;
  };
  static const std::map<std::string_view, Printer> table{
      {"ping", [](const json&) { return std::puts("pong") < 0 ? 1 : 0; }},
      {"status", [](const json& r) { return print_status(r), 0; }},
      {"start", state_line},
      {"stop", state_line},
      {"restart", state_line},
      {"remove",
       [](const json& r) {
         std::printf("removed %s%s\n", r.value("profile", std::string()).c_str(),
                     r.value("purged", false) ? " (data deleted)" : " (data kept)");
         return 0;
       }},
      {"send_text", [](const json& r) { return std::printf("sent %s\n", r.value("id", std::string()).c_str()) < 0; }},
      {"send_media",
       [](const json& r) {
         const json m = r.value("media", json::object());
         return std::printf("sent %s (%s, %s, %llu bytes)\n", r.value("id", std::string()).c_str(),
                            m.value("type", std::string()).c_str(), m.value("mimetype", std::string()).c_str(),
                            static_cast<unsigned long long>(m.value("size", uint64_t{0}))) < 0;
       }},
      {"download",
       [](const json& r) {
         return std::printf("%s (%llu bytes, %s)%s\n", r.value("path", std::string()).c_str(),
                            static_cast<unsigned long long>(r.value("size", uint64_t{0})),
                            r.value("mimetype", std::string()).c_str(),
                            r.value("retried", false) ? ", uploaded again by the sender's phone" : "") < 0;
       }},
      {"group_create",
       [](const json& r) {
         std::printf("created %s\n", r.value("gid", std::string()).c_str());
         return print_group(r), 0;
       }},
      {"group_info", [](const json& r) { return print_group(r), 0; }},
      {"group_add", changed},
      {"group_remove", changed},
      {"group_promote", changed},
      {"group_demote", changed},
      {"group_invite", [](const json& r) { return std::printf("%s\n", r.value("link", std::string()).c_str()) < 0; }},
      {"group_revoke_invite",
       [](const json& r) { return std::printf("%s\n", r.value("link", std::string()).c_str()) < 0; }},
      {"group_join", [](const json& r) { return std::printf("joined %s\n", r.value("gid", std::string()).c_str()) < 0; }},
      {"read", [](const json& r) { return std::printf("read %d\n", r.value("read", 0)) < 0; }},
      {"typing",
       [](const json& r) { return std::printf("typing %s\n", r.value("state", std::string()).c_str()) < 0; }},
      {"check",
       [](const json& r) {
         const std::string profile = r.value("profile", std::string());
         if (r.value("intact", false)) {
           std::printf("%s: database intact\n", profile.c_str());
           return 0;
         }
         std::printf("%s: database DAMAGED\n", profile.c_str());
         for (const auto& p : r.value("problems", json::array())) std::printf("  %s\n", p.get<std::string>().c_str());
         return 2;
       }},
      {"recover",
       [](const json& r) {
         std::printf("%s: recovered %zu rows; damaged file kept as %s\n", r.value("profile", std::string()).c_str(),
                     r.value("rows", size_t{0}), r.value("damaged_copy", std::string()).c_str());
         for (const auto& t : r.value("damaged_tables", json::array()))
           std::printf("  rows may be missing from %s\n", t.get<std::string>().c_str());
         return 0;
       }},
      {"log_level",
       [](const json& r) { return std::printf("log level %s\n", r.value("level", std::string()).c_str()) < 0; }},
      {"shutdown", [](const json&) { return std::puts("stopped") < 0 ? 1 : 0; }},
      {"check_numbers",
       [](const json& r) {
         for (const auto& n : r.value("results", json::array())) {
           if (!n.value("exists", false)) {
             std::printf("%s not on WhatsApp\n", n.value("number", std::string()).c_str());
             continue;
           }
           std::printf("%s %s %s\n", n.value("number", std::string()).c_str(), n.value("jid", std::string()).c_str(),
                       n.value("lid", std::string("-")).c_str());
         }
         return 0;
       }},
      {"picture_get",
       [](const json& r) {
         const json url = r.value("url", json());
         return std::printf("%s\n", url.is_string() ? url.get<std::string>().c_str() : "no picture") < 0;
       }},
      {"about_get",
       [](const json& r) {
         const json text = r.value("text", json());
         return std::printf("%s\n", text.is_string() ? text.get<std::string>().c_str() : "(hidden or none)") < 0;
       }},
      {"block", print_blocked},
      {"unblock", print_blocked},
      {"blocklist", print_blocked},
      {"logout", [](const json&) { return std::puts("logged out") < 0 ? 1 : 0; }},
  };
  return table;
}

// `logs`: the last lines, then (with -f) whatever was written after the
// offset of the previous reply, polled like `tail -f`.
int run_logs(const Options& o, const std::string& profile, size_t lines, bool follow) {
  json req{{"cmd", "logs"}, {"profile", profile}, {"lines", lines}};
  uint64_t offset = 0;
  auto print = [&offset](const json& r) {
    for (const auto& l : r["lines"]) std::printf("%s\n", l.get<std::string>().c_str());
    std::fflush(stdout);
    offset = r["offset"].get<uint64_t>();
    return 0;
  };
  Options quiet = o;
  quiet.json_out = false;  // --json has no meaning for a stream of lines
  if (int rc = call(quiet, req, print); rc != 0 || !follow) return rc;
  for (;;) {
    ::usleep(500 * 1000);
    if (int rc = call(quiet, {{"cmd", "logs"}, {"profile", profile}, {"offset", offset}}, print); rc != 0) return rc;
  }
}

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
  app.add_option("--timeout-ms", o.timeout_ms, "how long to wait for a reply (default: as long as the supervisor may take)");
  app.add_flag("--json", o.json_out, "print the supervisor's reply as JSON");

  // One subcommand per registry command (wa/contract/commands.hpp).
  auto registry = wactl::add_registry_commands(app);

  // More than one request each, and the raw request: written here.
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
  auto* logs = app.add_subcommand("logs", "print the account's own log lines (its connection worker and senders)");
  std::string logs_profile;
  size_t logs_lines = wa::contract::kDefaultLogLines;
  bool logs_follow = false;
  logs->add_option("profile", logs_profile)->required();
  logs->add_option("-n,--lines", logs_lines, "how many of the last lines")
      ->check(CLI::Range(size_t{1}, wa::contract::kMaxLogLines));
  logs->add_flag("-f,--follow", logs_follow, "then print new lines as they are written, until interrupted");
  auto* raw = app.add_subcommand("call", "send one raw JSON request (from the argument) and print the reply");
  std::string raw_req;
  raw->add_option("request", raw_req, "the request; - reads it from stdin (for requests longer than an argument)")
      ->required();

  // `check PROFILE` is the store's integrity check; `check PROFILE NUMBER...`
  // asks which numbers are on WhatsApp (check-numbers).
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--run-dir" || a == "--socket" || a == "--timeout-ms") {
      ++i;
      continue;
    }
    if (a.starts_with("-")) continue;
    if (a != "check") break;
    size_t positionals = 0;
    for (size_t k = i + 1; k < args.size(); ++k) {
      if (args[k] == "--run-dir" || args[k] == "--socket" || args[k] == "--timeout-ms") {
        ++k;
      } else if (!args[k].starts_with("-")) {
        ++positionals;
      }
    }
    if (positionals >= 2) args[i] = "check-numbers";
    break;
  }
  std::vector<char*> argv2;
  for (auto& a : args) argv2.push_back(a.data());
  argv = argv2.data();

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

  for (const auto& c : registry) {
    if (!*c->app) continue;
    auto req = wactl::build_request(*c);
    if (!req) {
      if (req.error().code == "usage") return die(req.error().message, 2);
      return die(req.error().code + ": " + req.error().message, 2);
    }
    auto p = printers().find(c->spec->name);
    Printer print = p != printers().end() ? p->second : Printer([](const json& r) {
      std::cout << r.dump() << std::endl;
      return 0;
    });
    return call(o, *req, print);
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
  if (*logs) return run_logs(o, logs_profile, logs_lines, logs_follow);
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
