#include "config.hpp"

#include <grp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "wa/bytes.hpp"
#include "wa/contract/deadlines.hpp"
#include "wa/fs.hpp"
#include "wa/ipc/addresses.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/ipc/zygote.hpp"
#include "wa/log.hpp"
#include "wa/profile.hpp"

namespace wa::supervisor {

using json = nlohmann::json;

namespace {

Unexpected<Error> bad(const std::string& field, const std::string& what) {
  return fail("bad_config", "config field '" + field + "': " + what);
}

Status only_keys(const json& obj, const std::string& where, std::initializer_list<const char*> keys) {
  std::set<std::string> allowed(keys.begin(), keys.end());
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!allowed.count(it.key())) {
      std::string field = where.empty() ? it.key() : where + "." + it.key();
      return fail("bad_config", "unknown config field '" + field + "'");
    }
  }
  return {};
}

Status read_int(const json& obj, const char* key, const std::string& field, int lo, int hi, int& out) {
  if (!obj.contains(key)) return {};
  const json& v = obj.at(key);
  if (!v.is_number_integer()) return bad(field, "must be an integer");
  auto n = v.get<int64_t>();
  if (n < lo || n > hi) return bad(field, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  out = static_cast<int>(n);
  return {};
}

Status read_path(const json& obj, const char* key, std::string& out) {
  if (!obj.contains(key)) return {};
  const json& v = obj.at(key);
  if (!v.is_string() || v.get<std::string>().empty()) return bad(key, "must be a non-empty string");
  out = v.get<std::string>();
  if (out[0] != '/') return bad(key, "must be an absolute path");
  return {};
}

Status read_server(const json& s, const std::string& where, ServerConfig& out) {
  if (!s.is_object()) return bad(where, "must be an object");
  WA_TRY(only_keys(s, where, {"url", "root_public_key", "wa_version", "browser", "media_ca_file"}));
  if (s.contains("media_ca_file")) WA_TRY(read_path(s, "media_ca_file", out.media_ca_file));
  if (s.contains("url")) {
    if (!s["url"].is_string()) return bad(where + ".url", "must be a string");
    std::string url = s["url"].get<std::string>();
    if (url.rfind("wss://", 0) != 0 && url.rfind("ws://", 0) != 0)
      return bad(where + ".url", "must start with wss:// or ws://");
    out.url = url;
  }
  if (s.contains("root_public_key")) {
    if (!s["root_public_key"].is_string()) return bad(where + ".root_public_key", "must be a string");
    auto key = from_hex(s["root_public_key"].get<std::string>());
    if (!key || key->size() != out.root_public_key.size()) return bad(where + ".root_public_key", "must be 64 hex characters");
    std::copy(key->begin(), key->end(), out.root_public_key.begin());
  }
  if (s.contains("wa_version")) {
    if (!s["wa_version"].is_string()) return bad(where + ".wa_version", "must be a string");
    auto v = contract::parse_version(s["wa_version"].get<std::string>());
    if (!v) return bad(where + ".wa_version", "must be three dot-separated numbers, e.g. 2.3000.1043857760");
    out.wa_version = *v;
  }
  if (s.contains("browser")) {
    const json& b = s["browser"];
    if (!b.is_array() || b.size() != 3) return bad(where + ".browser", "must be [os, browser, version]");
    for (const auto& part : b) {
      if (!part.is_string() || part.get<std::string>().empty() || part.get<std::string>().size() > 64)
        return bad(where + ".browser", "entries must be non-empty strings of at most 64 bytes");
    }
    out.browser = BrowserIdentity{b[0].get<std::string>(), b[1].get<std::string>(), b[2].get<std::string>()};
  }
  return {};
}

Status read_media(const json& m, const std::string& where, contract::MediaPolicy& out) {
  if (!m.is_object()) return bad(where, "must be an object");
  WA_TRY(only_keys(m, where, {"allowed_roots", "auto_download", "auto_download_max_bytes"}));
  if (m.contains("allowed_roots")) {
    const json& r = m["allowed_roots"];
    if (!r.is_array()) return bad(where + ".allowed_roots", "must be a list of absolute directory paths");
    for (const auto& d : r) {
      if (!d.is_string() || d.get_ref<const std::string&>().empty() || d.get_ref<const std::string&>()[0] != '/')
        return bad(where + ".allowed_roots", "must be a list of absolute directory paths");
      out.allowed_roots.push_back(d.get<std::string>());
    }
  }
  if (m.contains("auto_download")) {
    const json& a = m["auto_download"];
    static const std::set<std::string> kinds{"image", "video", "audio", "voice", "document", "sticker"};
    if (!a.is_array()) return bad(where + ".auto_download", "must be a list of media kinds");
    for (const auto& k : a) {
      if (!k.is_string() || kinds.count(k.get<std::string>()) == 0)
        return bad(where + ".auto_download", "entries must be one of image, video, audio, voice, document, sticker");
      out.auto_download.push_back(k.get<std::string>());
    }
  }
  if (m.contains("auto_download_max_bytes")) {
    const json& b = m["auto_download_max_bytes"];
    if (!b.is_number_integer() || b.get<int64_t>() < 0)
      return bad(where + ".auto_download_max_bytes", "must be a whole number of bytes");
    out.auto_download_max_bytes = b.get<int64_t>();
  }
  return {};
}

}  // namespace

std::string default_data_dir() {
  if (const char* x = std::getenv("XDG_DATA_HOME"); x != nullptr && x[0] == '/')
    return std::string(x) + "/wa-supervisor";
  if (const char* h = std::getenv("HOME"); h != nullptr && h[0] == '/')
    return std::string(h) + "/.local/share/wa-supervisor";
  return "/var/lib/wa-supervisor";
}

// The lease table's name for this host unless the config gives one.
// One token of a NATS subject (wa/contract/cluster.hpp writes '.' as '~').
bool subject_safe(const std::string& s, bool dots) {
  if (s.empty() || s.size() > 128) return false;
  for (char ch : s) {
    const bool ok = std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_' || ch == '-' || (dots && ch == '.');
    if (!ok) return false;
  }
  return true;
}

std::string default_host_id() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

Result<Config> parse_config(std::string_view text) {
  // The shared parser: a NUL byte, a number out of range or deep nesting is
  // a clear error, not an exception or silently ignored bytes.
  auto parsed = ipc::parse_json_text(as_bytes(text), "config");
  if (!parsed) return fail("bad_config", parsed.error().message);
  const json& root = *parsed;
  if (!root.is_object()) return fail("bad_config", "config must be a JSON object");
  WA_TRY(only_keys(root, "", {"run_dir", "data_dir", "server", "restart", "start", "senders", "media",
                              "liveness", "events", "shutdown_timeout_ms", "instances", "operator_group",
                              "log_level", "webhooks", "store", "cluster",
                              "http"}));  // wa-http's section: it validates it, the supervisor ignores it
  Config c;
  c.run_dir = ipc::default_run_dir();
  c.data_dir = default_data_dir();
  WA_TRY(read_path(root, "run_dir", c.run_dir));
  WA_TRY(read_path(root, "data_dir", c.data_dir));
  if (root.contains("log_level")) {
    const json& l = root["log_level"];
    log::Level level{};
    if (!l.is_string() || !log::parse_level(l.get<std::string>(), level))
      return bad("log_level", "must be \"debug\", \"info\", \"warn\" or \"error\"");
    c.log_level = l.get<std::string>();
  }
  if (root.contains("operator_group")) {
    const json& g = root["operator_group"];
    if (!g.is_string() || g.get_ref<const std::string&>().empty()) return bad("operator_group", "must be a group name");
    c.operator_group = g.get<std::string>();
    std::vector<char> buf(16384);
    group gr{};
    group* found = nullptr;
    if (::getgrnam_r(c.operator_group.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr)
      return bad("operator_group", "no such group '" + c.operator_group + "'");
    c.operator_gid = gr.gr_gid;
  }

  if (root.contains("server")) WA_TRY(read_server(root["server"], "server", c.server));
  if (root.contains("restart")) {
    const json& r = root["restart"];
    if (!r.is_object()) return bad("restart", "must be an object");
    WA_TRY(only_keys(r, "restart", {"intensity", "period_s", "backoff_min_ms", "backoff_max_ms"}));
    WA_TRY(read_int(r, "intensity", "restart.intensity", 0, 1000, c.restart.intensity));
    WA_TRY(read_int(r, "period_s", "restart.period_s", 1, 86400, c.restart.period_s));
    WA_TRY(read_int(r, "backoff_min_ms", "restart.backoff_min_ms", 0, 3600000, c.restart.backoff_min_ms));
    WA_TRY(read_int(r, "backoff_max_ms", "restart.backoff_max_ms", 0, 3600000, c.restart.backoff_max_ms));
    if (c.restart.backoff_max_ms < c.restart.backoff_min_ms)
      return bad("restart.backoff_max_ms", "must not be smaller than restart.backoff_min_ms");
  }
  if (root.contains("start")) {
    const json& r = root["start"];
    if (!r.is_object()) return bad("start", "must be an object");
    WA_TRY(only_keys(r, "start", {"max_connecting", "jitter_ms", "connect_timeout_ms", "zygote", "zygote_wait_ms"}));
    WA_TRY(read_int(r, "max_connecting", "start.max_connecting", 1, 100000, c.start.max_connecting));
    WA_TRY(read_int(r, "jitter_ms", "start.jitter_ms", 0, 3600000, c.start.jitter_ms));
    WA_TRY(read_int(r, "connect_timeout_ms", "start.connect_timeout_ms", 100, 3600000, c.start.connect_timeout_ms));
    WA_TRY(read_int(r, "zygote_wait_ms", "start.zygote_wait_ms", 0, ipc::kZygoteReplyTimeoutMs, c.start.zygote_wait_ms));
    if (r.contains("zygote")) {
      if (!r["zygote"].is_boolean()) return bad("start.zygote", "must be true or false");
      c.start.zygote = r["zygote"].get<bool>();
    }
  }
  if (root.contains("senders")) {
    const json& s = root["senders"];
    if (!s.is_object()) return bad("senders", "must be an object");
    WA_TRY(only_keys(s, "senders",
                     {"max_per_instance", "idle_ms", "ack_timeout_ms", "queue_timeout_ms", "transfer_timeout_ms"}));
    WA_TRY(read_int(s, "max_per_instance", "senders.max_per_instance", 1, 1024, c.senders.max_per_instance));
    WA_TRY(read_int(s, "idle_ms", "senders.idle_ms", 10, 86400000, c.senders.idle_ms));
    WA_TRY(read_int(s, "ack_timeout_ms", "senders.ack_timeout_ms", 100, 600000, c.senders.ack_timeout_ms));
    WA_TRY(read_int(s, "queue_timeout_ms", "senders.queue_timeout_ms", 100, 600000, c.senders.queue_timeout_ms));
    WA_TRY(read_int(s, "transfer_timeout_ms", "senders.transfer_timeout_ms", 1000, 3600000,
                    c.senders.transfer_timeout_ms));
    // Every deadline a send meets is derived from these (wa/contract/deadlines.hpp).
    WA_TRY(contract::check_budget(c.senders));
  }
  if (root.contains("media")) WA_TRY(read_media(root["media"], "media", c.media));
  if (root.contains("liveness")) {
    const json& l = root["liveness"];
    if (!l.is_object()) return bad("liveness", "must be an object");
    WA_TRY(only_keys(l, "liveness", {"interval_ms", "timeout_ms", "ready_timeout_ms"}));
    WA_TRY(read_int(l, "interval_ms", "liveness.interval_ms", 10, 600000, c.liveness.interval_ms));
    WA_TRY(read_int(l, "timeout_ms", "liveness.timeout_ms", 20, 3600000, c.liveness.timeout_ms));
    WA_TRY(read_int(l, "ready_timeout_ms", "liveness.ready_timeout_ms", 20, 3600000, c.liveness.ready_timeout_ms));
    // Each worker is looked at once per interval, so silence is noticed up
    // to an interval late: a timeout under two intervals would be mostly lag.
    if (c.liveness.timeout_ms < 2 * c.liveness.interval_ms)
      return bad("liveness.timeout_ms", "must be at least twice liveness.interval_ms");
  }
  if (root.contains("events")) {
    const json& e = root["events"];
    if (!e.is_object()) return bad("events", "must be an object");
    WA_TRY(only_keys(e, "events", {"retention_days", "max_per_profile"}));
    WA_TRY(read_int(e, "retention_days", "events.retention_days", 1, 36500, c.events.retention_days));
    WA_TRY(read_int(e, "max_per_profile", "events.max_per_profile", 100, 100000000, c.events.max_per_profile));
  }
  if (root.contains("webhooks")) {
    auto w = parse_webhooks_config(root["webhooks"]);
    if (!w) return Unexpected<Error>{w.error()};
    c.webhooks = std::move(*w);
  }
  if (root.contains("store")) {
    const json& s = root["store"];
    if (!s.is_object()) return bad("store", "must be an object");
    WA_TRY(only_keys(s, "store", {"engine", "conninfo_file"}));
    if (s.contains("engine")) {
      if (!s["engine"].is_string() || (s["engine"] != "sqlite" && s["engine"] != "postgres"))
        return bad("store.engine", "must be \"sqlite\" or \"postgres\"");
      c.store.engine = s["engine"].get<std::string>();
    }
    WA_TRY(read_path(s, "conninfo_file", c.store.conninfo_file));
  }
  c.cluster.host_id = default_host_id();
  if (root.contains("cluster")) {
    const json& k = root["cluster"];
    if (!k.is_object()) return bad("cluster", "must be an object");
    WA_TRY(only_keys(k, "cluster", {"host_id", "lease_ttl_ms", "scan_ms", "claim_jitter_ms", "capacity", "nats_url",
                                    "subject_prefix"}));
    if (k.contains("host_id")) {
      const json& h = k["host_id"];
      if (!h.is_string() || !subject_safe(h.get_ref<const std::string&>(), true))
        return bad("cluster.host_id", "must be 1 to 128 letters, digits, '_', '-' or '.'");
      c.cluster.host_id = h.get<std::string>();
    }
    if (k.contains("nats_url")) {
      if (!k["nats_url"].is_string()) return bad("cluster.nats_url", "must be a string");
      c.cluster.nats_url = k["nats_url"].get<std::string>();
    }
    if (k.contains("subject_prefix")) {
      const json& p = k["subject_prefix"];
      if (!p.is_string() || !subject_safe(p.get_ref<const std::string&>(), false))
        return bad("cluster.subject_prefix", "must be 1 to 128 letters, digits, '_' or '-'");
      c.cluster.subject_prefix = p.get<std::string>();
    }
    WA_TRY(read_int(k, "lease_ttl_ms", "cluster.lease_ttl_ms", 1000, 3600000, c.cluster.lease_ttl_ms));
    WA_TRY(read_int(k, "scan_ms", "cluster.scan_ms", 100, 3600000, c.cluster.scan_ms));
    WA_TRY(read_int(k, "claim_jitter_ms", "cluster.claim_jitter_ms", 0, 600000, c.cluster.claim_jitter_ms));
    WA_TRY(read_int(k, "capacity", "cluster.capacity", 0, 1000000, c.cluster.capacity));
  }
  // Like the database's connection string, the NATS URL may carry a
  // password: the environment keeps it out of the config file.
  if (const char* url = std::getenv("WA_NATS_URL"); url != nullptr && *url != '\0') c.cluster.nats_url = url;
  if (!c.cluster.nats_url.empty() && c.store.engine != "postgres")
    return bad("cluster.nats_url", "links hosts that share a PostgreSQL store: set store.engine to \"postgres\"");
  WA_TRY(read_int(root, "shutdown_timeout_ms", "shutdown_timeout_ms", 10, 600000, c.shutdown_timeout_ms));

  if (!root.contains("instances")) return bad("instances", "is required");
  const json& inst = root["instances"];
  if (!inst.is_array()) return bad("instances", "must be an array");
  std::set<std::string> seen;
  for (size_t i = 0; i < inst.size(); ++i) {
    std::string where = "instances[" + std::to_string(i) + "]";
    const json& e = inst[i];
    if (!e.is_object()) return bad(where, "must be an object");
    WA_TRY(only_keys(e, where, {"profile", "autostart", "server", "media"}));
    if (!e.contains("profile") || !e["profile"].is_string()) return bad(where + ".profile", "must be a string");
    InstanceConfig ic;
    ic.profile = e["profile"].get<std::string>();
    if (auto st = validate_profile_name(ic.profile); !st) return bad(where + ".profile", st.error().message);
    if (!seen.insert(ic.profile).second) return bad(where + ".profile", "duplicate profile '" + ic.profile + "'");
    if (e.contains("autostart")) {
      if (!e["autostart"].is_boolean()) return bad(where + ".autostart", "must be true or false");
      ic.autostart = e["autostart"].get<bool>();
    }
    ic.server = c.server;
    if (e.contains("server")) {
      WA_TRY(read_server(e["server"], where + ".server", ic.server));
    }
    ic.media = c.media;
    if (e.contains("media")) {
      ic.media = contract::MediaPolicy{};
      WA_TRY(read_media(e["media"], where + ".media", ic.media));
    }
    c.instances.push_back(std::move(ic));
  }
  return c;
}

Result<Config> load_config(const std::string& path) {
  auto text = fs::read_file(path, 1 << 20);
  if (!text) return Unexpected<Error>{text.error()};
  return parse_config(*text);
}

contract::WorkerSettings Config::worker_settings(const std::string& profile) const {
  contract::WorkerSettings w;
  w.data_dir = data_dir;
  w.log_level = log_level;
  w.server = server;
  w.media = media;
  for (const auto& i : instances)
    if (i.profile == profile) {
      w.server = i.server;
      w.media = i.media;
    }
  w.senders = senders;
  w.liveness = liveness;
  w.events = events;
  w.store = store;
  w.shutdown_timeout_ms = shutdown_timeout_ms;
  return w;
}


// The `webhooks` section (webhooks.hpp): here with the rest of the config's
// checks, which webhook_create shares.
namespace {

constexpr size_t kMaxWebhookName = 64;
constexpr size_t kMaxWebhookUrl = 2048;
constexpr size_t kMaxWebhookSecret = 256;
constexpr size_t kMaxEventType = 64;

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

Unexpected<Error> bad_webhook(const std::string& field, const std::string& what) {
  return fail("bad_request", "webhook field '" + field + "' " + what);
}

Result<std::vector<std::string>> string_list(const json& v, const std::string& field) {
  if (!v.is_array()) return bad_webhook(field, "must be a list of strings");
  std::vector<std::string> out;
  for (const auto& s : v) {
    if (!s.is_string()) return bad_webhook(field, "must be a list of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

}  // namespace

Status validate_webhook(const WebhookEndpoint& w) {
  if (w.name.empty() || w.name.size() > kMaxWebhookName || !std::all_of(w.name.begin(), w.name.end(), name_char))
    return bad_webhook("name", "must be 1 to 64 characters of A-Z a-z 0-9 _ - .");
  if (w.url.size() > kMaxWebhookUrl) return bad_webhook("url", "is longer than 2048 bytes");
  if (!(w.url.starts_with("http://") || w.url.starts_with("https://")) || w.url.find_first_of(" \r\n\t") != std::string::npos ||
      w.url.find('\0') != std::string::npos || w.url.size() <= 8)
    return bad_webhook("url", "must be an http:// or https:// URL");
  if (w.secret.empty() || w.secret.size() > kMaxWebhookSecret) return bad_webhook("secret", "must be 1 to 256 bytes");
  for (const auto& e : w.events)
    if (e.empty() || e.size() > kMaxEventType || !std::all_of(e.begin(), e.end(), name_char))
      return bad_webhook("events", "must hold event type names (e.g. \"message\")");
  if (w.profiles.empty()) return bad_webhook("profiles", "must name at least one profile, or \"*\"");
  for (const auto& p : w.profiles)
    if (p != "*")
      if (auto st = validate_profile_name(p); !st) return bad_webhook("profiles", "'" + p + "': " + st.error().message);
  return {};
}

Result<WebhooksConfig> parse_webhooks_config(const json& v) {
  auto cfg_bad = [](const std::string& field, const std::string& what) {
    return fail("bad_config", "config field '" + field + "': " + what);
  };
  WebhooksConfig c;
  if (!v.is_object()) return cfg_bad("webhooks", "must be an object");
  for (auto it = v.begin(); it != v.end(); ++it)
    if (it.key() != "endpoints" && it.key() != "delivery")
      return fail("bad_config", "unknown config field 'webhooks." + it.key() + "'");
  if (v.contains("delivery")) {
    const json& d = v["delivery"];
    if (!d.is_object()) return cfg_bad("webhooks.delivery", "must be an object");
    struct Key {
      const char* name;
      int lo, hi;
      int* out;
    };
    WebhookDelivery& o = c.delivery;
    const Key keys[] = {{"batch_max", 1, 1000, &o.batch_max},
                        {"timeout_ms", 100, 600000, &o.timeout_ms},
                        {"backoff_min_ms", 10, 3600000, &o.backoff_min_ms},
                        {"backoff_max_ms", 10, 86400000, &o.backoff_max_ms},
                        {"pause_after_failures", 1, 1000000, &o.pause_after_failures},
                        {"pause_after_ms", 1000, 2000000000, &o.pause_after_ms}};
    for (auto it = d.begin(); it != d.end(); ++it) {
      const Key* k = nullptr;
      for (const auto& cand : keys)
        if (it.key() == cand.name) k = &cand;
      const std::string field = "webhooks.delivery." + it.key();
      if (k == nullptr) return fail("bad_config", "unknown config field '" + field + "'");
      if (!it->is_number_integer()) return cfg_bad(field, "must be an integer");
      const int64_t n = it->get<int64_t>();
      if (n < k->lo || n > k->hi)
        return cfg_bad(field, "must be between " + std::to_string(k->lo) + " and " + std::to_string(k->hi));
      *k->out = static_cast<int>(n);
    }
    if (o.backoff_max_ms < o.backoff_min_ms)
      return cfg_bad("webhooks.delivery.backoff_max_ms", "must not be smaller than backoff_min_ms");
  }
  if (v.contains("endpoints")) {
    const json& list = v["endpoints"];
    if (!list.is_array()) return cfg_bad("webhooks.endpoints", "must be an array");
    std::set<std::string> names;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string where = "webhooks.endpoints[" + std::to_string(i) + "]";
      const json& e = list[i];
      if (!e.is_object()) return cfg_bad(where, "must be an object");
      WebhookEndpoint w;
      w.from_config = true;
      w.profiles = {"*"};
      for (auto it = e.begin(); it != e.end(); ++it) {
        const std::string& k = it.key();
        if (k == "name" || k == "url" || k == "secret") {
          if (!it->is_string()) return cfg_bad(where + "." + k, "must be a string");
          (k == "name" ? w.name : k == "url" ? w.url : w.secret) = it->get<std::string>();
        } else if (k == "events" || k == "profiles") {
          auto l = string_list(*it, k);
          if (!l) return cfg_bad(where + "." + k, "must be a list of strings");
          (k == "events" ? w.events : w.profiles) = std::move(*l);
        } else {
          return fail("bad_config", "unknown config field '" + where + "." + k + "'");
        }
      }
      if (auto st = validate_webhook(w); !st) return cfg_bad(where, st.error().message);
      if (!names.insert(w.name).second) return cfg_bad(where + ".name", "duplicate webhook '" + w.name + "'");
      c.endpoints.push_back(std::move(w));
    }
  }
  return c;
}

}  // namespace wa::supervisor
