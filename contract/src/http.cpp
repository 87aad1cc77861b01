#include "wa/contract/http.hpp"

#include <algorithm>

#include "wa/contract/errors.hpp"
#include "wa/profile.hpp"

namespace wa::contract {

using json = nlohmann::json;

int http_status(std::string_view code) {
  // Codes whose status differs from their kind's.
  static constexpr std::pair<std::string_view, int> kSpecial[] = {
      {"unauthorized", 401},      {"forbidden", 403},       {"not_found", 404},    {"unknown_profile", 404},
      {"unknown_command", 404},   {"unknown_poll", 404},    {"not_media", 404},    {"unknown_webhook", 404}, {"method_not_allowed", 405},
      {"too_large", 413},         {"unsupported_media", 415}, {"rate_limited", 429}, {"already_paired", 409},
      {"in_config", 409},         {"not_connected", 503},   {"instance_down", 503}, {"maintenance", 503},
      {"shutting_down", 503},     {"timeout", 504},         {"unknown_outcome", 504},
  };
  for (const auto& [c, s] : kSpecial)
    if (c == code) return s;
  const ErrorSpec* e = find_error(code);
  if (e == nullptr) return 500;
  switch (e->kind) {
    case ErrorKind::request: return 400;
    case ErrorKind::state: return 409;
    case ErrorKind::store: return e->retryable ? 503 : 500;
    case ErrorKind::remote: return 502;  // the server or a peer refused: the gateway's upstream
    case ErrorKind::outcome: return 504;
    case ErrorKind::internal: return 500;
  }
  return 500;
}

std::string_view access_name(Access a) {
  switch (a) {
    case Access::read: return "read";
    case Access::send: return "send";
    case Access::admin: return "admin";
  }
  return "admin";
}

namespace {

const FieldSpec* profile_field(const CommandSpec& c) {
  for (const auto& f : c.fields)
    if (f.name == "profile" && f.kind == FieldKind::profile) return &f;
  return nullptr;
}

json field_schema(const FieldSpec& f) {
  json s;
  using K = FieldKind;
  switch (f.kind) {
    case K::flag: s = {{"type", "boolean"}}; break;
    case K::count:
      s = {{"type", "integer"}, {"minimum", 0}};
      if (f.max != 0) s["maximum"] = f.max;
      break;
    case K::number:
      s = {{"type", "number"}};
      if (f.max != 0) {
        s["minimum"] = -static_cast<double>(f.max);
        s["maximum"] = static_cast<double>(f.max);
      }
      break;
    case K::people:
    case K::texts:
      s = {{"type", "array"}, {"minItems", 1}, {"items", {{"type", "string"}, {"minLength", 1}, {"maxLength", kMaxJid}}}};
      if (f.max != 0) s["maxItems"] = f.max;
      break;
    case K::choice: {
      s = {{"type", "string"}, {"enum", json::array()}};
      for (auto c : f.choices) s["enum"].push_back(std::string(c));
      break;
    }
    default: {
      s = {{"type", "string"}, {"minLength", 1}};
      const uint64_t max = f.max != 0 ? f.max : (f.kind == K::text ? 0 : kMaxJid);
      if (max != 0) s["maxLength"] = max;
      if (f.kind == K::profile) {
        s["pattern"] = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$";
        s["maxLength"] = kMaxProfileName;
      }
      if (f.kind == K::path) s["pattern"] = "^/";
      if (f.kind == K::chat || f.kind == K::person || f.kind == K::people)
        s["description"] = "a JID, or a phone number (+15551234567) for a user";
      break;
    }
  }
  if (!f.help.empty()) {
    std::string d = s.value("description", std::string());
    s["description"] = std::string(f.help) + (d.empty() ? "" : " (" + d + ")");
  }
  return s;
}

json body_schema(const CommandSpec& c, bool without_profile) {
  json props = json::object();
  json required = json::array();
  for (const auto& f : c.fields) {
    if (without_profile && f.name == "profile") continue;
    props[std::string(f.name)] = field_schema(f);
    if (f.required) required.push_back(std::string(f.name));
  }
  if (c.sends)
    props["client_id"] = {{"type", "string"}, {"minLength", 1}, {"maxLength", kMaxClientId},
                          {"description", "de-duplicates a retried send (wa-http makes one when absent)"}};
  json s = {{"type", "object"}, {"properties", props}, {"additionalProperties", false}};
  if (!required.empty()) s["required"] = required;
  return s;
}

json query_params(const CommandSpec& c, bool without_profile) {
  json ps = json::array();
  for (const auto& f : c.fields) {
    if (without_profile && f.name == "profile") continue;
    json schema = field_schema(f);
    if (schema["type"] == "array") schema = {{"type", "string"}, {"description", "comma-separated"}};
    ps.push_back({{"name", std::string(f.name)}, {"in", "query"}, {"required", f.required}, {"schema", schema}});
  }
  return ps;
}

json errors_text(const CommandSpec& c) {
  json codes = json::array();
  for (auto e : c.errors) codes.push_back(std::string(e));
  return codes;
}

json operation(const CommandSpec& c, bool profile_route, bool get) {
  json op = {{"operationId", std::string(c.name) + (profile_route ? "" : "_all") + (get ? "_get" : "")},
             {"summary", std::string(c.summary)},
             {"description", "Result: " + std::string(c.result)},
             {"tags", {std::string(c.runs == Runs::account ? "account" : "supervisor")}},
             {"x-access", std::string(access_name(c.access))},
             {"x-errors", errors_text(c)},
             {"security", json::array({{{"bearer", json::array({std::string(access_name(c.access))})}}})},
             {"responses",
              {{"200", {{"description", "the command's result"},
                        {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Ok"}}}}}}}}},
               {"default", {{"$ref", "#/components/responses/Error"}}}}}};
  json params = json::array();
  if (profile_route) params.push_back({{"$ref", "#/components/parameters/profile"}});
  if (get) {
    for (auto& p : query_params(c, profile_route)) params.push_back(p);
  } else {
    op["requestBody"] = {{"required", std::any_of(c.fields.begin(), c.fields.end(), [&](const FieldSpec& f) {
                            return f.required && !(profile_route && f.name == "profile");
                          })},
                         {"content", {{"application/json", {{"schema", body_schema(c, profile_route)}}}}}};
  }
  if (!params.empty()) op["parameters"] = params;
  return op;
}

json plain(const std::string& summary, const std::string& type, bool secured) {
  json op = {{"summary", summary},
             {"responses", {{"200", {{"description", "ok"}, {"content", {{type, json::object()}}}}},
                            {"default", {{"$ref", "#/components/responses/Error"}}}}}};
  if (!secured) op["security"] = json::array();
  return op;
}

}  // namespace

bool has_profile_route(const CommandSpec& c) { return profile_field(c) != nullptr; }

bool has_global_route(const CommandSpec& c) {
  const FieldSpec* p = profile_field(c);
  return p == nullptr || !p->required;
}

json openapi() {
  json paths = json::object();
  for (const auto& c : commands()) {
    for (bool profile_route : {true, false}) {
      if (profile_route ? !has_profile_route(c) : !has_global_route(c)) continue;
      std::string path = profile_route ? "/v1/profiles/{profile}/" + std::string(c.name) : "/v1/" + std::string(c.name);
      json item = {{"post", operation(c, profile_route, false)}};
      if (has_get(c)) item["get"] = operation(c, profile_route, true);
      paths[path] = item;
    }
  }
  // wa-http's own routes.
  json events_get = paths["/v1/profiles/{profile}/events"]["get"];
  events_get["parameters"].push_back({{"name", "wait_ms"},
                                      {"in", "query"},
                                      {"required", false},
                                      {"description", "long poll: wait up to this long for an event past `since`"},
                                      {"schema", {{"type", "integer"}, {"minimum", 0}, {"maximum", 60000}}}});
  paths["/v1/profiles/{profile}/events"]["get"] = events_get;
  paths["/v1/events"] = {
      {"get",
       {{"summary", "WebSocket (Upgrade: websocket): the log from `since` on, then live events; each event once, in "
                    "per-profile seq order. `since` is one number for every profile, or `sales:41,support:7`; "
                    "`access_token` may replace the Authorization header"},
        {"parameters",
         {{{"name", "since"}, {"in", "query"}, {"required", false}, {"schema", {{"type", "string"}}}},
          {{"name", "profile"}, {"in", "query"}, {"required", false}, {"schema", {{"type", "string"}}}},
          {{"name", "access_token"}, {"in", "query"}, {"required", false}, {"schema", {{"type", "string"}}}}}},
        {"security", json::array({{{"bearer", json::array({"read"})}}})},
        {"responses", {{"101", {{"description", "switching to the WebSocket protocol"}}},
                       {"default", {{"$ref", "#/components/responses/Error"}}}}}}}};
  paths["/v1/profiles/{profile}/qr.svg"] = {
      {"get", plain("the latest live QR code of the profile as SVG (admin; 404 not_found when none or expired)",
                    "image/svg+xml", true)}};
  paths["/v1/profiles/{profile}/qr.svg"]["get"]["parameters"] = {{{"$ref", "#/components/parameters/profile"}}};
  paths["/v1/profiles/{profile}/media"] = {
      {"post", plain("upload a file (raw body) for send_media: answers {\"path\"} (send)", "application/json", true)}};
  paths["/v1/profiles/{profile}/media"]["post"]["parameters"] = {{{"$ref", "#/components/parameters/profile"}}};
  paths["/healthz"] = {{"get", plain("the process is alive", "application/json", false)}};
  paths["/readyz"] = {{"get", plain("the supervisor answers ping (else 503)", "application/json", false)}};
  paths["/metrics"] = {{"get", plain("Prometheus text format (read)", "text/plain", true)}};
  paths["/openapi.json"] = {{"get", plain("this document", "application/json", false)}};

  json codes = json::array();
  for (const auto& e : error_codes()) codes.push_back(std::string(e.code));
  json doc = {
      {"openapi", "3.1.0"},
      {"info", {{"title", "wa-supervisor HTTP API (wa-http)"}, {"version", "1"},
                {"description", "Every control command of the registry; errors carry the control socket's codes."}}},
      {"paths", paths},
      {"security", json::array({{{"bearer", json::array()}}})},
      {"components",
       {{"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}},
        {"parameters",
         {{"profile", {{"name", "profile"}, {"in", "path"}, {"required", true},
                       {"schema", {{"type", "string"}, {"pattern", "^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"}}}}}}},
        {"schemas",
         {{"Ok", {{"type", "object"}, {"required", {"ok", "result"}},
                  {"properties", {{"ok", {{"const", true}}}, {"result", json::object()}}}}},
          {"Error", {{"type", "object"},
                     {"required", {"ok", "error"}},
                     {"properties",
                      {{"ok", {{"const", false}}},
                       {"error", {{"type", "object"},
                                  {"required", {"code", "message"}},
                                  {"properties", {{"code", {{"type", "string"}, {"x-codes", codes}}},
                                                  {"message", {{"type", "string"}}}}}}}}}}}}},
        {"responses",
         {{"Error", {{"description", "an error envelope; the status follows the code (docs/CONTROL.md, HTTP API)"},
                     {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}}}}}}}};
  return doc;
}

}  // namespace wa::contract
