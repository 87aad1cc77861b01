#include "api.hpp"

#include <cmath>
#include <cstdlib>

#include "wa/contract/http.hpp"
#include "wa/crypto_random.hpp"
#include "wa/profile.hpp"

namespace wa::http {

using contract::FieldKind;

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) return out;
    start = p + 1;
  }
}

Result<json> typed_value(const contract::FieldSpec& f, const std::string& v) {
  auto bad = [&](const char* what) { return fail("bad_request", "query parameter '" + std::string(f.name) + "' " + what); };
  switch (f.kind) {
    case FieldKind::flag:
      if (v == "true" || v == "1") return json(true);
      if (v == "false" || v == "0") return json(false);
      return bad("must be true or false");
    case FieldKind::count: {
      if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
        return bad("must be a whole number >= 0");
      return json(std::strtoull(v.c_str(), nullptr, 10));
    }
    case FieldKind::number: {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(d)) return bad("must be a number");
      return json(d);
    }
    case FieldKind::people:
    case FieldKind::texts: {
      json a = json::array();
      for (auto part : split(v, ',')) a.push_back(std::string(part));
      return a;
    }
    default: return json(v);
  }
}

}  // namespace

std::string url_decode_or_empty(std::string_view s, bool& ok) {
  std::string out;
  ok = true;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      auto hexv = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      if (i + 2 >= s.size()) {
        ok = false;
        return {};
      }
      int a = hexv(s[i + 1]), b = hexv(s[i + 2]);
      if (a < 0 || b < 0) {
        ok = false;
        return {};
      }
      out += static_cast<char>(a << 4 | b);
      i += 2;
    } else {
      out += c;
    }
  }
  if (out.find('\0') != std::string::npos) ok = false;
  return out;
}

Result<std::map<std::string, std::string>> parse_query(std::string_view q) {
  std::map<std::string, std::string> out;
  if (q.empty()) return out;
  for (auto part : split(q, '&')) {
    if (part.empty()) continue;
    auto eq = part.find('=');
    bool ok1 = true, ok2 = true;
    std::string k = url_decode_or_empty(part.substr(0, eq), ok1);
    std::string v = eq == std::string_view::npos ? std::string() : url_decode_or_empty(part.substr(eq + 1), ok2);
    if (!ok1 || !ok2) return fail("bad_request", "the query string has a bad %-escape");
    if (!out.emplace(k, v).second) return fail("bad_request", "query parameter '" + k + "' is given twice");
  }
  return out;
}

Result<Route> match_route(Method m, std::string_view path) {
  Route r;
  auto only = [&](Method want, Route::Kind k) -> Result<Route> {
    if (m != want) return fail("method_not_allowed", "use " + std::string(want == Method::get ? "GET" : "POST"));
    r.kind = k;
    return r;
  };
  if (path == "/healthz") return only(Method::get, Route::Kind::healthz);
  if (path == "/readyz") return only(Method::get, Route::Kind::readyz);
  if (path == "/metrics") return only(Method::get, Route::Kind::metrics);
  if (path == "/openapi.json") return only(Method::get, Route::Kind::openapi);
  if (path == "/v1/events") return only(Method::get, Route::Kind::events_ws);
  if (path.starts_with("/v1/")) {
    auto parts = split(path.substr(4), '/');
    const contract::CommandSpec* spec = nullptr;
    if (parts.size() == 3 && parts[0] == "profiles") {
      r.profile = std::string(parts[1]);
      if (!validate_profile_name(r.profile)) return fail("invalid_profile", "not a valid profile name");
      if (parts[2] == "qr.svg") return only(Method::get, Route::Kind::qr_svg);
      if (parts[2] == "media") return only(Method::post, Route::Kind::upload);
      spec = contract::find_command(parts[2]);
      if (spec == nullptr || !contract::has_profile_route(*spec))
        return fail("unknown_command", "no command '" + std::string(parts[2]) + "' for a profile");
    } else if (parts.size() == 1) {
      spec = contract::find_command(parts[0]);
      if (spec == nullptr) return fail("unknown_command", "no command '" + std::string(parts[0]) + "'");
      if (!contract::has_global_route(*spec))
        return fail("not_found", "'" + std::string(parts[0]) + "' needs a profile: /v1/profiles/{profile}/" +
                                     std::string(parts[0]));
    } else {
      return fail("not_found", "no such route");
    }
    r.kind = Route::Kind::command;
    r.spec = spec;
    if (m == Method::post || (m == Method::get && contract::has_get(*spec))) return r;
    return fail("method_not_allowed", contract::has_get(*spec) ? "use GET or POST" : "use POST");
  }
  if (m != Method::get) return fail(path == "/" || path.starts_with("/dashboard") ? "method_not_allowed" : "not_found",
                                    "no such route");
  // The dashboard: "/" and "/dashboard/..." (no "..", no hidden files).
  std::string_view rest = path == "/" || path == "/dashboard" || path == "/dashboard/" ? "index.html"
                          : path.starts_with("/dashboard/")                            ? path.substr(11)
                                                                                       : std::string_view();
  if (rest.empty()) return fail("not_found", "no such route");
  for (auto seg : split(rest, '/'))
    if (seg.empty() || seg.front() == '.') return fail("not_found", "no such file");
  r.kind = Route::Kind::file;
  r.file = std::string(rest);
  return r;
}

Result<json> build_request(const Route& r, Method m, const std::map<std::string, std::string>& query,
                           std::string_view body) {
  if (r.kind != Route::Kind::command || r.spec == nullptr) return fail("not_found", "not a command route");
  const contract::CommandSpec& spec = *r.spec;
  json req = json::object();
  if (m == Method::get) {
    for (const auto& [k, v] : query) {
      if (k == "access_token" || k == "wait_ms") continue;  // wa-http's own
      const contract::FieldSpec* f = nullptr;
      for (const auto& fs : spec.fields)
        if (fs.name == k) f = &fs;
      if (f == nullptr) return fail("bad_request", "unknown query parameter '" + k + "'");
      auto v2 = typed_value(*f, v);
      if (!v2) return Unexpected<Error>{v2.error()};
      req[k] = std::move(*v2);
    }
  } else if (!body.empty()) {
    auto j = ipc::parse_json_text(as_bytes(body), "body");
    if (!j) return Unexpected<Error>{j.error()};
    if (!j->is_object()) return fail("bad_request", "the body must be a JSON object");
    req = std::move(*j);
  }
  if (req.contains("cmd")) return fail("bad_request", "the command comes from the path, not field 'cmd'");
  if (!r.profile.empty()) {
    if (req.contains("profile")) return fail("bad_request", "the profile comes from the path, not field 'profile'");
    req["profile"] = r.profile;
  }
  req["cmd"] = std::string(spec.name);
  if (spec.sends && !req.contains("client_id")) req["client_id"] = random_hex(16);
  return req;
}

Status authorize(const Token& t, const Route& r) {
  contract::Access need = contract::Access::read;
  switch (r.kind) {
    case Route::Kind::command: need = r.spec->access; break;
    case Route::Kind::qr_svg: need = contract::Access::admin; break;
    case Route::Kind::upload: need = contract::Access::send; break;
    default: break;
  }
  if (!t.allows(need))
    return fail("forbidden", "token '" + t.name + "' lacks the '" + std::string(contract::access_name(need)) + "' scope");
  if (!r.profile.empty() && !t.may_see(r.profile))
    return fail("forbidden", "token '" + t.name + "' may not use profile '" + r.profile + "'");
  // A profile-less command that acts (not read-only, whose answers are
  // filtered) reaches every profile: only a token for all of them may.
  if (r.kind == Route::Kind::command && r.profile.empty() && need != contract::Access::read && !t.all_profiles)
    return fail("forbidden", "token '" + t.name + "' is limited to some profiles; this command needs profiles [\"*\"]");
  return {};
}

json event_view(const Token& t, json event) {
  if (t.allows(contract::Access::admin) || !event.is_object()) return event;
  auto type = event.find("type");
  if (type != event.end() && type->is_string()) {
    if (*type == "qr") event.erase("qr");
    if (*type == "pairing_code") event.erase("code");
  }
  return event;
}

json filter_status(const Token& t, json result) {
  if (t.all_profiles || !result.is_object()) return result;
  auto it = result.find("instances");
  if (it == result.end() || !it->is_array()) return result;
  json kept = json::array();
  for (auto& i : *it)
    if (i.is_object() && i.contains("profile") && i["profile"].is_string() && t.may_see(i["profile"].get<std::string>()))
      kept.push_back(std::move(i));
  *it = std::move(kept);
  return result;
}

std::string error_body(const std::string& code, const std::string& message) {
  return ipc::dump_json(json{{"ok", false}, {"error", {{"code", code}, {"message", message}}}});
}

}  // namespace wa::http
