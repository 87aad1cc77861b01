#include "config.hpp"

#include <filesystem>

#include "wa/ipc/addresses.hpp"
#include "wa/ipc/codec.hpp"
#include "wa/profile.hpp"

namespace wa::http {

using json = nlohmann::json;

namespace {

Unexpected<Error> bad(const std::string& field, const std::string& why) {
  return fail("bad_config", "http config: '" + field + "' " + why);
}

Status only_keys(const json& o, const std::string& where, std::initializer_list<const char*> keys) {
  for (const auto& [k, v] : o.items()) {
    bool known = false;
    for (const char* key : keys) known = known || k == key;
    if (!known) return bad(where.empty() ? k : where + "." + k, "is not a known field");
  }
  return {};
}

Status read_u64(const json& o, const char* key, const std::string& where, uint64_t lo, uint64_t hi, uint64_t& out) {
  if (!o.contains(key)) return {};
  const json& v = o[key];
  if (!v.is_number_unsigned() || v.get<uint64_t>() < lo || v.get<uint64_t>() > hi)
    return bad(where, "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
  out = v.get<uint64_t>();
  return {};
}

Status read_abs_path(const json& o, const char* key, const std::string& where, std::string& out) {
  if (!o.contains(key)) return {};
  const json& v = o[key];
  if (!v.is_string() || v.get_ref<const std::string&>().empty() || v.get_ref<const std::string&>()[0] != '/')
    return bad(where, "must be an absolute path");
  out = v.get<std::string>();
  return {};
}

Status read_listen(const std::string& s, HttpConfig& c) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return bad("http.listen", "must be HOST:PORT");
  std::string host = s.substr(0, colon), port = s.substr(colon + 1);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return bad("http.listen", "must end with a port number");
  int p = std::stoi(port);
  if (p > 65535) return bad("http.listen", "port must be at most 65535");
  c.host = host;
  c.port = p;
  return {};
}

Status read_token(const json& t, const std::string& where, Token& out) {
  if (!t.is_object()) return bad(where, "must be an object");
  WA_TRY(only_keys(t, where, {"name", "sha256", "scopes", "profiles"}));
  if (!t.contains("name") || !t["name"].is_string() || t["name"].get_ref<const std::string&>().empty())
    return bad(where + ".name", "must be a non-empty string");
  out.name = t["name"].get<std::string>();
  if (!t.contains("sha256") || !t["sha256"].is_string()) return bad(where + ".sha256", "must be 64 hex digits");
  auto d = parse_sha256_hex(t["sha256"].get_ref<const std::string&>());
  if (!d) return bad(where + ".sha256", "must be 64 hex digits (wa-http hash-token makes one)");
  out.sha256 = *d;
  if (!t.contains("scopes") || !t["scopes"].is_array() || t["scopes"].empty())
    return bad(where + ".scopes", "must be a non-empty list of \"read\", \"send\", \"admin\"");
  int best = -1;
  for (const auto& s : t["scopes"]) {
    int v = !s.is_string() ? -1 : s == "read" ? 0 : s == "send" ? 1 : s == "admin" ? 2 : -1;
    if (v < 0) return bad(where + ".scopes", "entries must be \"read\", \"send\" or \"admin\"");
    best = std::max(best, v);
  }
  out.scope = static_cast<contract::Access>(best);
  if (!t.contains("profiles") || !t["profiles"].is_array() || t["profiles"].empty())
    return bad(where + ".profiles", "must be a non-empty list of profile names, or [\"*\"] for all");
  for (const auto& p : t["profiles"]) {
    if (!p.is_string()) return bad(where + ".profiles", "entries must be profile names or \"*\"");
    const std::string& name = p.get_ref<const std::string&>();
    if (name == "*") {
      out.all_profiles = true;
      continue;
    }
    if (!validate_profile_name(name)) return bad(where + ".profiles", "has an invalid profile name");
    out.profiles.insert(name);
  }
  return {};
}

}  // namespace

std::string hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

std::optional<std::array<uint8_t, 32>> parse_sha256_hex(std::string_view h) {
  if (h.size() != 64) return std::nullopt;
  std::array<uint8_t, 32> out{};
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    int a = nib(h[2 * i]), b = nib(h[2 * i + 1]);
    if (a < 0 || b < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(a << 4 | b);
  }
  return out;
}

Result<HttpConfig> parse_http_config(std::string_view text) {
  auto parsed = ipc::parse_json_text(as_bytes(text), "config");
  if (!parsed) return fail("bad_config", parsed.error().message);
  const json& root = *parsed;
  if (!root.is_object()) return fail("bad_config", "config must be a JSON object");
  HttpConfig c;
  c.run_dir = ipc::default_run_dir();
  WA_TRY(read_abs_path(root, "run_dir", "run_dir", c.run_dir));
  if (root.contains("media") && root["media"].is_object() && root["media"].contains("allowed_roots") &&
      root["media"]["allowed_roots"].is_array())
    for (const auto& r : root["media"]["allowed_roots"])
      if (r.is_string()) c.allowed_roots.push_back(r.get<std::string>());
  if (!root.contains("http")) return c;  // loopback:8080, no tokens: only /healthz and /readyz answer
  const json& h = root["http"];
  if (!h.is_object()) return bad("http", "must be an object");
  WA_TRY(only_keys(h, "http", {"listen", "tls", "tokens", "max_body_bytes", "upload_max_bytes", "rate_per_s",
                               "rate_burst", "upload_dir", "dashboard_dir", "metrics_open", "max_ws_clients"}));
  if (h.contains("listen")) {
    if (!h["listen"].is_string()) return bad("http.listen", "must be HOST:PORT");
    WA_TRY(read_listen(h["listen"].get<std::string>(), c));
  }
  if (h.contains("tls")) {
    const json& t = h["tls"];
    if (!t.is_object()) return bad("http.tls", "must be an object with cert and key");
    WA_TRY(only_keys(t, "http.tls", {"cert", "key"}));
    WA_TRY(read_abs_path(t, "cert", "http.tls.cert", c.tls_cert));
    WA_TRY(read_abs_path(t, "key", "http.tls.key", c.tls_key));
    if (c.tls_cert.empty() || c.tls_key.empty()) return bad("http.tls", "needs both cert and key");
  }
  if (h.contains("tokens")) {
    if (!h["tokens"].is_array()) return bad("http.tokens", "must be a list");
    std::set<std::string> names;
    for (size_t i = 0; i < h["tokens"].size(); ++i) {
      Token t;
      WA_TRY(read_token(h["tokens"][i], "http.tokens[" + std::to_string(i) + "]", t));
      if (!names.insert(t.name).second) return bad("http.tokens[" + std::to_string(i) + "].name", "is a duplicate");
      c.tokens.push_back(std::move(t));
    }
  }
  WA_TRY(read_u64(h, "max_body_bytes", "http.max_body_bytes", 1024, 64u << 20, c.max_body_bytes));
  WA_TRY(read_u64(h, "upload_max_bytes", "http.upload_max_bytes", 1, uint64_t{16} << 30, c.upload_max_bytes));
  uint64_t rate = static_cast<uint64_t>(c.rate_per_s), burst = static_cast<uint64_t>(c.rate_burst);
  WA_TRY(read_u64(h, "rate_per_s", "http.rate_per_s", 1, 1000000, rate));
  WA_TRY(read_u64(h, "rate_burst", "http.rate_burst", 1, 1000000, burst));
  c.rate_per_s = static_cast<double>(rate);
  c.rate_burst = static_cast<double>(burst);
  uint64_t ws = static_cast<uint64_t>(c.max_ws_clients);
  WA_TRY(read_u64(h, "max_ws_clients", "http.max_ws_clients", 0, 100000, ws));
  c.max_ws_clients = static_cast<int>(ws);
  if (h.contains("metrics_open")) {
    if (!h["metrics_open"].is_boolean()) return bad("http.metrics_open", "must be true or false");
    c.metrics_open = h["metrics_open"].get<bool>();
  }
  WA_TRY(read_abs_path(h, "dashboard_dir", "http.dashboard_dir", c.dashboard_dir));
  WA_TRY(read_abs_path(h, "upload_dir", "http.upload_dir", c.upload_dir));
  if (!c.upload_dir.empty()) {
    // send_media refuses paths outside media.allowed_roots: an upload there
    // could never be sent.
    namespace fs = std::filesystem;
    auto under = [](const fs::path& p, const fs::path& base) {
      auto r = p.lexically_normal().lexically_relative(base.lexically_normal());
      return !r.empty() && *r.begin() != "..";
    };
    bool ok = false;
    for (const auto& r : c.allowed_roots) ok = ok || under(c.upload_dir, r);
    if (!ok) return bad("http.upload_dir", "must lie under one of media.allowed_roots (send_media refuses others)");
  }
  return c;
}

}  // namespace wa::http
