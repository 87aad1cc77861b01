#include "wa/contract/settings.hpp"

#include "wa/bytes.hpp"

namespace wa::contract {

using json = nlohmann::json;

Result<WaVersion> parse_version(std::string_view text) {
  WaVersion out{};
  size_t part = 0;
  size_t i = 0;
  while (true) {
    size_t dot = text.find('.', i);
    std::string_view p = text.substr(i, dot == std::string_view::npos ? std::string_view::npos : dot - i);
    if (part >= 3 || p.empty() || p.size() > 10) return fail("bad_settings", "version must be A.B.C");
    uint64_t n = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return fail("bad_settings", "version must be A.B.C");
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (n > 0xFFFFFFFFull) return fail("bad_settings", "version part too large");
    out[part++] = static_cast<uint32_t>(n);
    if (dot == std::string_view::npos) break;
    i = dot + 1;
  }
  if (part != 3) return fail("bad_settings", "version must be A.B.C");
  return out;
}

std::string version_text(const WaVersion& v) {
  return std::to_string(v[0]) + "." + std::to_string(v[1]) + "." + std::to_string(v[2]);
}

namespace {

Unexpected<Error> bad(const std::string& what) { return fail("bad_settings", what); }

// Reads `key` of `obj` into `out` when present; a wrong type is an error.
Status read(const json& obj, const char* key, int& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  if (!it->is_number_integer()) return bad(std::string(key) + " must be an integer");
  const int64_t v = it->get<int64_t>();
  if (v < 0 || v > INT32_MAX) return bad(std::string(key) + " is out of range");
  out = static_cast<int>(v);
  return {};
}

Status read(const json& obj, const char* key, std::string& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  if (!it->is_string()) return bad(std::string(key) + " must be a string");
  out = it->get<std::string>();
  return {};
}

Status read(const json& obj, const char* key, int64_t& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  if (!it->is_number_integer()) return bad(std::string(key) + " must be an integer");
  out = it->get<int64_t>();
  if (out < 0) return bad(std::string(key) + " is out of range");
  return {};
}

Status read(const json& obj, const char* key, std::vector<std::string>& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return {};
  if (!it->is_array()) return bad(std::string(key) + " must be a list of strings");
  out.clear();
  for (const auto& v : *it) {
    if (!v.is_string()) return bad(std::string(key) + " must be a list of strings");
    out.push_back(v.get<std::string>());
  }
  return {};
}

Result<const json*> section(const json& obj, const char* key) {
  static const json kEmpty = json::object();
  auto it = obj.find(key);
  if (it == obj.end()) return &kEmpty;
  if (!it->is_object()) return bad(std::string(key) + " must be an object");
  return &*it;
}

json server_json(const ServerSettings& s) {
  return json{{"url", s.url},
              {"root_public_key", to_hex(s.root_public_key)},
              {"wa_version", version_text(s.wa_version)},
              {"browser", json::array({s.browser.os, s.browser.name, s.browser.version})},
              {"media_ca_file", s.media_ca_file}};
}

Status read_server(const json& s, ServerSettings& out) {
  WA_TRY(read(s, "url", out.url));
  WA_TRY(read(s, "media_ca_file", out.media_ca_file));
  if (out.url.rfind("wss://", 0) != 0 && out.url.rfind("ws://", 0) != 0)
    return bad("server url must start with wss:// or ws://");
  if (auto it = s.find("root_public_key"); it != s.end()) {
    auto key = it->is_string() ? from_hex(it->get<std::string>()) : std::nullopt;
    if (!key || key->size() != out.root_public_key.size()) return bad("root_public_key must be 32 bytes of hex");
    std::copy(key->begin(), key->end(), out.root_public_key.begin());
  }
  if (auto it = s.find("wa_version"); it != s.end()) {
    if (!it->is_string()) return bad("wa_version must be a string");
    auto v = parse_version(it->get<std::string>());
    if (!v) return Unexpected<Error>{v.error()};
    out.wa_version = *v;
  }
  if (auto it = s.find("browser"); it != s.end()) {
    if (!it->is_array() || it->size() != 3 || !(*it)[0].is_string() || !(*it)[1].is_string() ||
        !(*it)[2].is_string())
      return bad("browser must be three strings");
    out.browser = BrowserIdentity{(*it)[0].get<std::string>(), (*it)[1].get<std::string>(),
                                  (*it)[2].get<std::string>()};
  }
  return {};
}

}  // namespace

std::string media_dir(const std::string& data_dir, const std::string& profile) {
  return data_dir + "/" + profile + "/media";
}

std::string account_log_path(const std::string& data_dir, const std::string& profile) {
  return data_dir + "/" + profile + "/account.log";
}

json to_json(const WebhookDelivery& d) {
  return json{{"batch_max", d.batch_max},
              {"timeout_ms", d.timeout_ms},
              {"backoff_min_ms", d.backoff_min_ms},
              {"backoff_max_ms", d.backoff_max_ms},
              {"pause_after_failures", d.pause_after_failures},
              {"pause_after_ms", d.pause_after_ms}};
}

Result<WebhookDelivery> webhook_delivery_from_json(const json& j) {
  if (!j.is_object()) return bad("webhook delivery must be an object");
  WebhookDelivery d;
  WA_TRY(read(j, "batch_max", d.batch_max));
  WA_TRY(read(j, "timeout_ms", d.timeout_ms));
  WA_TRY(read(j, "backoff_min_ms", d.backoff_min_ms));
  WA_TRY(read(j, "backoff_max_ms", d.backoff_max_ms));
  WA_TRY(read(j, "pause_after_failures", d.pause_after_failures));
  WA_TRY(read(j, "pause_after_ms", d.pause_after_ms));
  if (d.batch_max < 1 || d.pause_after_failures < 1) return bad("webhook delivery counts must be at least 1");
  return d;
}

json to_json(const WorkerSettings& s) {
  return json{{"data_dir", s.data_dir},
              {"log_level", s.log_level},
              {"server", server_json(s.server)},
              {"senders",
               {{"max_per_instance", s.senders.max_per_instance},
                {"idle_ms", s.senders.idle_ms},
                {"ack_timeout_ms", s.senders.ack_timeout_ms},
                {"queue_timeout_ms", s.senders.queue_timeout_ms},
                {"transfer_timeout_ms", s.senders.transfer_timeout_ms}}},
              {"media",
               {{"allowed_roots", s.media.allowed_roots},
                {"auto_download", s.media.auto_download},
                {"auto_download_max_bytes", s.media.auto_download_max_bytes}}},
              {"liveness",
               {{"interval_ms", s.liveness.interval_ms},
                {"timeout_ms", s.liveness.timeout_ms},
                {"ready_timeout_ms", s.liveness.ready_timeout_ms}}},
              {"events", {{"retention_days", s.events.retention_days}, {"max_per_profile", s.events.max_per_profile}}},
              {"store", {{"engine", s.store.engine}, {"conninfo_file", s.store.conninfo_file}, {"token", s.store.token}, {"lease_ttl_ms", s.store.lease_ttl_ms}}},
              {"shutdown_timeout_ms", s.shutdown_timeout_ms}};
}

Result<WorkerSettings> worker_settings_from_json(const json& j) {
  if (!j.is_object()) return bad("settings must be an object");
  WorkerSettings s;
  WA_TRY(read(j, "data_dir", s.data_dir));
  WA_TRY(read(j, "log_level", s.log_level));
  WA_TRY(read(j, "shutdown_timeout_ms", s.shutdown_timeout_ms));
  auto server = section(j, "server");
  if (!server) return Unexpected<Error>{server.error()};
  WA_TRY(read_server(**server, s.server));
  auto senders = section(j, "senders");
  if (!senders) return Unexpected<Error>{senders.error()};
  WA_TRY(read(**senders, "max_per_instance", s.senders.max_per_instance));
  WA_TRY(read(**senders, "idle_ms", s.senders.idle_ms));
  WA_TRY(read(**senders, "ack_timeout_ms", s.senders.ack_timeout_ms));
  WA_TRY(read(**senders, "queue_timeout_ms", s.senders.queue_timeout_ms));
  WA_TRY(read(**senders, "transfer_timeout_ms", s.senders.transfer_timeout_ms));
  auto media = section(j, "media");
  if (!media) return Unexpected<Error>{media.error()};
  WA_TRY(read(**media, "allowed_roots", s.media.allowed_roots));
  WA_TRY(read(**media, "auto_download", s.media.auto_download));
  WA_TRY(read(**media, "auto_download_max_bytes", s.media.auto_download_max_bytes));
  if (s.senders.max_per_instance < 1) return bad("senders.max_per_instance must be at least 1");
  auto liveness = section(j, "liveness");
  if (!liveness) return Unexpected<Error>{liveness.error()};
  WA_TRY(read(**liveness, "interval_ms", s.liveness.interval_ms));
  WA_TRY(read(**liveness, "timeout_ms", s.liveness.timeout_ms));
  WA_TRY(read(**liveness, "ready_timeout_ms", s.liveness.ready_timeout_ms));
  auto events = section(j, "events");
  if (!events) return Unexpected<Error>{events.error()};
  WA_TRY(read(**events, "retention_days", s.events.retention_days));
  WA_TRY(read(**events, "max_per_profile", s.events.max_per_profile));
  auto store = section(j, "store");
  if (!store) return Unexpected<Error>{store.error()};
  WA_TRY(read(**store, "engine", s.store.engine));
  WA_TRY(read(**store, "conninfo_file", s.store.conninfo_file));
  WA_TRY(read(**store, "token", s.store.token));
  WA_TRY(read(**store, "lease_ttl_ms", s.store.lease_ttl_ms));
  if (s.store.engine != "sqlite" && s.store.engine != "postgres") return bad("store.engine must be sqlite or postgres");
  return s;
}

}  // namespace wa::contract
