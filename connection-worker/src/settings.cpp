#include "settings.hpp"

#include "wa/bytes.hpp"
#include "wa/noise/cert.hpp"

namespace wa::connection {

using json = nlohmann::json;

Result<std::array<uint32_t, 3>> parse_version(std::string_view text) {
  std::array<uint32_t, 3> out{};
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

namespace {

Status apply_server(const json& s, ClientSettings& out) {
  if (!s.is_object()) return {};
  if (s.contains("url") && s["url"].is_string()) out.url = s["url"].get<std::string>();
  if (s.contains("root_public_key") && s["root_public_key"].is_string()) {
    auto key = from_hex(s["root_public_key"].get<std::string>());
    if (!key || key->size() != 32) return fail("bad_settings", "root_public_key must be 32 bytes of hex");
    std::copy(key->begin(), key->end(), out.root_public.begin());
  }
  if (s.contains("wa_version") && s["wa_version"].is_string()) {
    auto v = parse_version(s["wa_version"].get<std::string>());
    if (!v) return Unexpected<Error>{v.error()};
    out.version = *v;
  }
  if (s.contains("browser") && s["browser"].is_array() && s["browser"].size() == 3) {
    const json& b = s["browser"];
    if (!b[0].is_string() || !b[1].is_string() || !b[2].is_string())
      return fail("bad_settings", "browser must be three strings");
    out.browser_os = b[0].get<std::string>();
    out.browser_name = b[1].get<std::string>();
    out.browser_version = b[2].get<std::string>();
  }
  return {};
}

}  // namespace

Result<ClientSettings> settings_from_json(const json& settings, const std::string& profile) {
  ClientSettings out;
  out.root_public = noise::kWaRootPublicKey;
  if (!settings.is_object()) return out;
  if (settings.contains("data_dir") && settings["data_dir"].is_string())
    out.data_dir = settings["data_dir"].get<std::string>();
  if (settings.contains("server")) WA_TRY(apply_server(settings["server"], out));
  if (settings.contains("instance_server") && settings["instance_server"].is_object() &&
      settings["instance_server"].contains(profile))
    WA_TRY(apply_server(settings["instance_server"][profile], out));
  if (out.url.rfind("wss://", 0) != 0 && out.url.rfind("ws://", 0) != 0)
    return fail("bad_settings", "server url must start with wss:// or ws://");
  return out;
}

}  // namespace wa::connection
