// wa-testserver: a local WhatsApp-compatible server for tests, demos and bot
// development without a phone. See testserver/README.md.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "admin.hpp"
#include "server.hpp"
#include "state.hpp"
#include "wa/fs.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/ipc/client.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/log.hpp"
#include "wa/build_info.hpp"

using namespace wa;
using namespace wa::testserver;

namespace {

constexpr const char* kFaultHelp = R"(Fault actions (target: --jid DEVICE_JID, or --phone NUMBER for all its devices):
  close                     close the connection (no stream error)
  stream-error CODE         send <stream:error> and close; CODE: 515, 503,
                            device_removed (or 401), replaced (or conflict)
  malformed-frame           send a frame that decrypts but is not a valid node
  drop-acks N               do not send the server ack of the next N messages
  delay-acks N MS           send the ack of the next N messages MS ms late
  refuse-login REASON       (--phone) answer logins with <failure reason=REASON>
  omit-pn                   deliveries to the target omit sender_pn, participant_pn
                            and peer_recipient_pn (until clear)
  clear                     undo refuse-login, omit-pn and ack faults)";

uint64_t now_unix() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

int admin_call(const std::string& dir, const admin::json& req, bool as_json, int timeout_ms) {
  auto url = admin::socket_url(dir);
  auto client = ipc::ControlClient::connect(url, timeout_ms);
  if (!client) {
    std::fprintf(stderr, "wa-testserver: cannot reach the server at %s: %s\n", url.c_str(), client.error().message.c_str());
    return 3;
  }
  auto reply = client->request(req);
  if (!reply) {
    std::fprintf(stderr, "wa-testserver: %s\n", reply.error().message.c_str());
    return 3;
  }
  bool ok = reply->value("ok", false);
  if (as_json || ok) std::printf("%s\n", ipc::dump_json(*reply).c_str());
  if (!ok) {
    auto err = (*reply)["error"];
    std::fprintf(stderr, "wa-testserver: %s: %s\n", err.value("code", "error").c_str(), err.value("message", "").c_str());
    return 2;
  }
  return 0;
}

uv_loop_t* g_loop = nullptr;

struct MediaFlags {
  int port = 0;
  uint64_t max_bytes = 2ull << 30;
  uint64_t auth_ttl = 3600;
  std::string fallback_host;
  bool fallback_first = false;
};

int serve(const std::string& listen, const std::string& dir, unsigned max_conns, bool chat_tls, const Policy& policy,
          const MediaFlags& media) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "wa-testserver: --listen must be HOST:PORT\n");
    return 64;
  }
  ServeOptions opts;
  opts.host = listen.substr(0, colon);
  opts.port = std::atoi(listen.c_str() + colon + 1);
  opts.state_dir = dir;
  opts.chat_tls = chat_tls;
  opts.media_port = media.port;
  opts.media_max_bytes = media.max_bytes;
  opts.media_auth_ttl = media.auth_ttl;
  opts.media_fallback_host = media.fallback_host;
  opts.media_fallback_first = media.fallback_first;
  if (opts.port < 0 || opts.port > 65535 || opts.media_port < 0 || opts.media_port > 65535) {
    std::fprintf(stderr, "wa-testserver: bad port\n");
    return 64;
  }
  if (auto st = fs::ensure_private_dir(dir); !st) {
    std::fprintf(stderr, "wa-testserver: %s\n", st.error().message.c_str());
    return 1;
  }
  if (auto st = ipc::check_run_dir(dir); !st) {
    std::fprintf(stderr, "wa-testserver: state dir path too long for its admin socket\n");
    return 64;
  }
  auto lock = fs::lock_file(dir + "/lock");
  if (!lock) {
    std::fprintf(stderr, "wa-testserver: another server uses %s\n", dir.c_str());
    return 1;
  }
  ::unlink((dir + "/ready").c_str());
  ::unlink((dir + "/port").c_str());
  ::unlink((dir + "/media-port").c_str());
  // Each connection is one fd: raise the soft limit to what we were allowed.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  opts.fd_limit = static_cast<unsigned>(std::min<rlim_t>(rl.rlim_cur, max_conns + 64));

  auto state = State::open(dir, now_unix());
  if (!state) {
    std::fprintf(stderr, "wa-testserver: state: %s\n", state.error().message.c_str());
    return 1;
  }
  state->policy = policy;
  const auto& root = state->ca().root.pub;
  if (auto st = fs::write_file_atomic(dir + "/root.pub", to_hex(root) + "\n"); !st) {
    std::fprintf(stderr, "wa-testserver: %s\n", st.error().message.c_str());
    return 1;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  g_loop = &loop;
  auto server = Server::start(&loop, opts, std::move(*state));
  if (!server) {
    std::fprintf(stderr, "wa-testserver: %s\n", server.error().message.c_str());
    uv_run(&loop, UV_RUN_NOWAIT);
    return 1;
  }
  (void)fs::write_file_atomic(dir + "/port", std::to_string((*server)->port()) + "\n");
  (void)fs::write_file_atomic(dir + "/media-port", std::to_string((*server)->media_port()) + "\n");
  (void)fs::write_file_atomic(dir + "/ready", "1\n");
  WA_INFO("serving %s://%s:%d/ws/chat and media on https://%s:%d (state %s)", chat_tls ? "wss" : "ws",
          opts.host.c_str(), (*server)->port(),
          opts.host.c_str(), (*server)->media_port(), dir.c_str());

  uv_signal_t sigint, sigterm;
  Server* srv = server->get();
  // Each signal handle closes itself and its sibling on the first signal.
  uv_signal_init(&loop, &sigint);
  uv_signal_init(&loop, &sigterm);
  sigint.data = srv;
  sigterm.data = srv;
  static uv_signal_t* sibling_of_int = &sigterm;
  static uv_signal_t* sibling_of_term = &sigint;
  uv_signal_start(&sigint, [](uv_signal_t* h, int) {
    static_cast<Server*>(h->data)->stop();
    uv_close(reinterpret_cast<uv_handle_t*>(sibling_of_int), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
  }, SIGINT);
  uv_signal_start(&sigterm, [](uv_signal_t* h, int) {
    static_cast<Server*>(h->data)->stop();
    uv_close(reinterpret_cast<uv_handle_t*>(sibling_of_term), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
  }, SIGTERM);
  ::signal(SIGPIPE, SIG_IGN);
  uv_run(&loop, UV_RUN_DEFAULT);
  server->reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  ::unlink((dir + "/ready").c_str());
  uv_loop_close(&loop);
  ::close(*lock);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  wa::log::set_tag("wa-testserver");
  CLI::App app{"wa-testserver: a local WhatsApp-compatible server (websocket + Noise + binary nodes).\n"
               "Serve with `serve`; drive it with the admin subcommands, which talk to the running\n"
               "server through DIR/admin.sock (NNG REQ/REP, JSON)."};
  app.set_version_flag("--version", std::string("wa-testserver ") + wa::kVersion);
  app.require_subcommand(1);
  std::string dir, listen = "127.0.0.1:0", phone, qr, code, jid;
  bool as_json = false;
  unsigned max_conns = 8192;  // 5,000 accounts (docs/BENCHMARKS.md) fit with room to spare

  auto* serve_cmd = app.add_subcommand("serve", "Run the server: ws://HOST:PORT/ws/chat and the HTTPS media host. "
                                                "Writes DIR/root.pub (64 hex), DIR/media-ca.pem (the media host's "
                                                "test CA), DIR/port, DIR/media-port and, once listening, DIR/ready.");
  serve_cmd->add_option("--listen", listen, "HOST:PORT (port 0: the kernel picks; see DIR/port)")->capture_default_str();
  serve_cmd->add_option("--state", dir, "state directory (created 0700)")->required();
  bool verbose = false;
  serve_cmd->add_flag("--verbose", verbose, "log every stanza's tag and id (never contents)");
  bool chat_tls = false;
  serve_cmd->add_flag("--chat-tls", chat_tls,
                      "serve the chat socket as wss:// (TLS), as the real server does, with a certificate "
                      "issued by DIR/media-ca.pem (clients add it with SSL_CERT_DIR=/etc/ssl/certs:DIR/media-ca.d)");
  serve_cmd->add_option("--max-connections", max_conns, "connection capacity (fd table size)")->capture_default_str();
  std::string addressing = "lid", pn_lookups, pn_dm = "463", tctoken = "off";
  serve_cmd->add_option("--addressing", addressing,
                        "pn: the 2024 phone-number server; lid: the LID-first server (LID DMs, lid groups, "
                        "client-props, privacy tokens; see README)")
      ->check(CLI::IsMember({"pn", "lid"}))->capture_default_str();
  serve_cmd->add_option("--pn-lookups", pn_lookups,
                        "lid mode: refuse (default) answers PN-keyed device lists / prekey fetches of migrated "
                        "peers with nothing; serve answers them")
      ->check(CLI::IsMember({"serve", "refuse"}));
  serve_cmd->add_option("--pn-dm-to-migrated", pn_dm,
                        "lid mode: a PN-addressed DM between migrated accounts gets ack 463, or is delivered")
      ->check(CLI::IsMember({"463", "deliver"}))->capture_default_str();
  serve_cmd->add_option("--tctoken", tctoken,
                        "require: a 1:1 message without a conversation or a valid privacy token gets ack 463")
      ->check(CLI::IsMember({"off", "require"}))->capture_default_str();
  MediaFlags media;
  serve_cmd->add_option("--media-port", media.port,
                        "HTTPS media host port on the --listen host (0: the kernel picks; see DIR/media-port)")
      ->capture_default_str();
  serve_cmd->add_option("--media-max-bytes", media.max_bytes, "larger uploads answer 413")->capture_default_str();
  serve_cmd->add_option("--media-auth-ttl", media.auth_ttl,
                        "seconds a media_conn upload auth token lives (also the answer's ttl)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  serve_cmd->add_option("--media-fallback-host", media.fallback_host,
                        "HOST:PORT listed as a second media host (type=fallback); may point nowhere");
  serve_cmd->add_flag("--media-fallback-first", media.fallback_first,
                      "list the fallback host before this server's media host");

  std::string media_word;
  auto* media_expire_cmd = app.add_subcommand(
      "media-expire", "Media host: the blob answers 410 from now on (its bytes stay, as on the sender's phone).");
  media_expire_cmd->add_option("--state", dir, "state directory of the running server")->required();
  media_expire_cmd->add_option("path", media_word, "DIRECT_PATH (or its URL) | all")->required();
  auto* media_corrupt_cmd = app.add_subcommand("media-corrupt", "Media host: flip one byte of the stored blob.");
  media_corrupt_cmd->add_option("--state", dir, "state directory of the running server")->required();
  media_corrupt_cmd->add_option("path", media_word, "DIRECT_PATH (or its URL)")->required();
  auto* media_refuse_cmd = app.add_subcommand("media-refuse-uploads", "Media host: uploads answer 503 (on) or not (off).");
  media_refuse_cmd->add_option("--state", dir, "state directory of the running server")->required();
  media_refuse_cmd->add_option("state", media_word, "on|off")->required()->check(CLI::IsMember({"on", "off"}));
  auto* media_slow_cmd = app.add_subcommand("media-slow", "Media host: throttle every transfer to N bytes/s (off: no limit).");
  media_slow_cmd->add_option("--state", dir, "state directory of the running server")->required();
  media_slow_cmd->add_option("rate", media_word, "BYTES_PER_SEC|off")->required();
  auto* media_list_cmd = app.add_subcommand("media-list", "Media host: stored blobs (direct path, size, state).");
  media_list_cmd->add_option("--state", dir, "state directory of the running server")->required();
  std::vector<std::string> retry_words;
  auto* media_retry_cmd = app.add_subcommand(
      "media-retry-key", "Tell NUMBER's emulated phone the media key of message MSG_ID (what the real phone decrypts "
                         "from its copy): a media retry for MSG_ID then re-publishes DIRECT_PATH's bytes.");
  media_retry_cmd->add_option("--state", dir, "state directory of the running server")->required();
  media_retry_cmd->add_option("args", retry_words, "MSG_ID B64_MEDIA_KEY DIRECT_PATH")->required()->expected(3);

  auto* scan_cmd = app.add_subcommand("scan", "Link the companion showing QR to account NUMBER (as its phone would).");
  scan_cmd->add_option("--state", dir, "state directory of the running server")->required();
  scan_cmd->add_option("--phone", phone, "account phone number (digits; created on first use)")->required();
  scan_cmd->add_option("--qr", qr, "QR text as the client prints it (wa.me prefix optional)")->required();

  auto* link_cmd = app.add_subcommand("link-code", "Complete phone-number-code pairing: type CODE on NUMBER's phone.");
  link_cmd->add_option("--state", dir, "state directory of the running server")->required();
  link_cmd->add_option("--phone", phone, "account phone number")->required();
  link_cmd->add_option("--code", code, "the 8-character code the companion shows (dash optional)")->required();

  auto* status_cmd = app.add_subcommand("status", "Accounts, devices, online connections, queued stanzas.");
  status_cmd->add_option("--state", dir, "state directory of the running server")->required();
  status_cmd->add_flag("--json", as_json, "print the raw JSON reply");

  std::vector<std::string> words;
  auto* fault_cmd = app.add_subcommand("fault", "Inject a fault for reliability tests (actions below).");
  fault_cmd->footer(kFaultHelp);
  fault_cmd->add_option("--state", dir, "state directory of the running server")->required();
  fault_cmd->add_option("--jid", jid, "target device JID, e.g. 155501:1@s.whatsapp.net");
  fault_cmd->add_option("--phone", phone, "target account (all its devices; refuse-login)");
  fault_cmd->add_option("action", words, "ACTION [ARGS...]")->required();

  unsigned leave = 0;
  auto* drain_cmd = app.add_subcommand(
      "drain-prekeys", "Hand out a device's one-time prekeys until LEAVE remain (as many contacts starting sessions "
                       "would); the device gets the low-prekey notification.");
  drain_cmd->add_option("--state", dir, "state directory of the running server")->required();
  drain_cmd->add_option("--jid", jid, "device JID, e.g. 155501:1@s.whatsapp.net")->required();
  drain_cmd->add_option("--leave", leave, "one-time prekeys to leave")->required();
  auto* reset_cmd = app.add_subcommand(
      "reset-identity", "The user reinstalled WhatsApp: new phone identity, every linked device removed, and each "
                        "contact's devices get <notification type=encrypt><identity/>.");
  reset_cmd->add_option("--state", dir, "state directory of the running server")->required();
  reset_cmd->add_option("--phone", phone, "account phone number")->required();
  std::string onoff;
  auto* migrate_cmd = app.add_subcommand(
      "migrate", "Mark account NUMBER's chats LID-migrated (on) or not (off): pair-success client-props and the "
                 "LID DM rules of --addressing lid follow it.");
  migrate_cmd->add_option("--state", dir, "state directory of the running server")->required();
  migrate_cmd->add_option("--phone", phone, "account phone number")->required();
  migrate_cmd->add_option("state", onoff, "on|off")->required()->check(CLI::IsMember({"on", "off"}));
  auto* new_lid_cmd = app.add_subcommand(
      "new-lid", "Number change: account NUMBER gets a new LID (the old one is unknown afterwards); its contacts get "
                 "<notification type=contacts><modify old_lid new_lid/>.");
  new_lid_cmd->add_option("--state", dir, "state directory of the running server")->required();
  new_lid_cmd->add_option("--phone", phone, "account phone number")->required();
  auto* contacts_cmd = app.add_subcommand(
      "contacts", "Account NUMBER's contact side as the server keeps it: block list, profile picture, about text, "
                  "presence.");
  contacts_cmd->add_option("--state", dir, "state directory of the running server")->required();
  contacts_cmd->add_option("--phone", phone, "account phone number")->required();
  auto* receipts_cmd = app.add_subcommand(
      "receipts", "Every receipt account NUMBER's devices sent since the server started: the ids each answered, its "
                  "type and when it arrived (wall clock, microseconds).");
  receipts_cmd->add_option("--state", dir, "state directory of the running server")->required();
  receipts_cmd->add_option("--phone", phone, "account phone number")->required();
  app.footer(kFaultHelp);

  CLI11_PARSE(app, argc, argv);

  if (*serve_cmd) {
    if (verbose) wa::log::set_level(wa::log::Level::debug);
    Policy policy;
    policy.lid = addressing == "lid";
    policy.refuse_pn_lookups = pn_lookups.empty() ? policy.lid : pn_lookups == "refuse";
    policy.pn_dm_to_migrated_463 = pn_dm == "463";
    policy.require_tctoken = tctoken == "require";
    return serve(listen, dir, max_conns, chat_tls, policy, media);
  }
  if (*scan_cmd) {
    if (auto st = admin::check_phone(phone); !st) {
      std::fprintf(stderr, "wa-testserver: %s\n", st.error().message.c_str());
      return 64;
    }
    return admin_call(dir, {{"cmd", "scan"}, {"phone", phone}, {"qr", qr}}, true, 30000);
  }
  if (*link_cmd) return admin_call(dir, {{"cmd", "link-code"}, {"phone", phone}, {"code", code}}, true, 30000);
  if (*status_cmd) return admin_call(dir, {{"cmd", "status"}}, true, 10000);
  if (*drain_cmd) return admin_call(dir, {{"cmd", "drain-prekeys"}, {"jid", jid}, {"leave", leave}}, true, 10000);
  if (*migrate_cmd) return admin_call(dir, {{"cmd", "migrate"}, {"phone", phone}, {"on", onoff == "on"}}, true, 10000);
  if (*new_lid_cmd) return admin_call(dir, {{"cmd", "new-lid"}, {"phone", phone}}, true, 10000);
  if (*contacts_cmd) return admin_call(dir, {{"cmd", "contacts"}, {"phone", phone}}, true, 10000);
  if (*receipts_cmd) return admin_call(dir, {{"cmd", "receipts"}, {"phone", phone}}, true, 10000);
  if (*media_expire_cmd) return admin_call(dir, {{"cmd", "media-expire"}, {"path", media_word}}, true, 10000);
  if (*media_corrupt_cmd) return admin_call(dir, {{"cmd", "media-corrupt"}, {"path", media_word}}, true, 10000);
  if (*media_refuse_cmd)
    return admin_call(dir, {{"cmd", "media-refuse-uploads"}, {"on", media_word == "on"}}, true, 10000);
  if (*media_slow_cmd) {
    uint64_t rate = 0;
    if (media_word != "off") {
      char* end = nullptr;
      rate = std::strtoull(media_word.c_str(), &end, 10);
      if (media_word.empty() || *end != '\0' || media_word[0] == '-') {
        std::fprintf(stderr, "wa-testserver: media-slow takes BYTES_PER_SEC or off\n");
        return 64;
      }
    }
    return admin_call(dir, {{"cmd", "media-slow"}, {"bytes_per_sec", rate}}, true, 10000);
  }
  if (*media_list_cmd) return admin_call(dir, {{"cmd", "media-list"}}, true, 10000);
  if (*media_retry_cmd)
    return admin_call(dir, {{"cmd", "media-retry-key"}, {"id", retry_words[0]}, {"media_key", retry_words[1]},
                            {"path", retry_words[2]}}, true, 10000);
  if (*reset_cmd) return admin_call(dir, {{"cmd", "reset-identity"}, {"phone", phone}}, true, 10000);
  if (*fault_cmd) {
    auto req = admin::fault_request(jid, phone, words);
    if (!req) {
      std::fprintf(stderr, "wa-testserver: %s\n", req.error().message.c_str());
      return 64;
    }
    return admin_call(dir, *req, true, 10000);
  }
  return 64;
}
