// The HTTP face of the registries: every command has its route(s) in the
// OpenAPI document with the registry's fields, and every error code has one
// HTTP status.
#include <doctest/doctest.h>

#include <set>

#include "wa/contract/errors.hpp"
#include "wa/contract/http.hpp"

using namespace wa::contract;
using nlohmann::json;

TEST_CASE("openapi: every registry command has its path, method and fields") {
  json doc = openapi();
  CHECK(doc["openapi"] == "3.1.0");
  CHECK(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");
  const json& paths = doc["paths"];
  size_t routes = 0;
  for (const auto& c : commands()) {
    const std::string name(c.name);
    bool any = false, has_profile = false, profile_required = false;
    for (const auto& f : c.fields)
      if (f.name == "profile") {
        has_profile = true;
        profile_required = f.required;
      }
    for (bool profile_route : {true, false}) {
      const std::string path = profile_route ? "/v1/profiles/{profile}/" + name : "/v1/" + name;
      if (profile_route ? !has_profile : profile_required) continue;
      REQUIRE(paths.contains(path));
      any = true;
      ++routes;
      INFO(path);
      const json& post = paths[path]["post"];
      REQUIRE(post.is_object());
      CHECK(post["x-access"] == std::string(access_name(c.access)));
      CHECK(paths[path].contains("get") == (c.access == Access::read));
      const json& schema = post["requestBody"]["content"]["application/json"]["schema"];
      std::set<std::string> required, want_required, props, want_props;
      for (const auto& r : schema.value("required", json::array())) required.insert(r.get<std::string>());
      for (const auto& [k, v] : schema["properties"].items()) props.insert(k);
      for (const auto& f : c.fields) {
        if (profile_route && f.name == "profile") continue;  // from the path
        want_props.insert(std::string(f.name));
        if (f.required) want_required.insert(std::string(f.name));
      }
      if (c.sends) want_props.insert("client_id");
      CHECK(required == want_required);
      CHECK(props == want_props);
    }
    INFO(name);
    CHECK(any);
    CHECK(paths.contains("/v1/profiles/{profile}/" + name) == has_profile);
  }
  CHECK(routes >= commands().size());
  for (const char* own : {"/v1/events", "/healthz", "/readyz", "/metrics", "/openapi.json",
                          "/v1/profiles/{profile}/qr.svg", "/v1/profiles/{profile}/media"})
    CHECK(paths.contains(own));
  CHECK(paths["/v1/profiles/{profile}/events"]["get"]["parameters"].dump().find("wait_ms") != std::string::npos);
}

TEST_CASE("openapi: field kinds become schemas with the registry's limits and choices") {
  json doc = openapi();
  const json& send = doc["paths"]["/v1/profiles/{profile}/send_text"]["post"]["requestBody"]["content"]
                        ["application/json"]["schema"]["properties"];
  CHECK(send["text"]["type"] == "string");
  CHECK(send["text"]["maxLength"] == kMaxTextBytes);
  const json& events = doc["paths"]["/v1/profiles/{profile}/events"]["get"]["parameters"];
  bool limit = false;
  for (const auto& p : events)
    if (p.value("name", "") == "limit") {
      limit = true;
      CHECK(p["schema"]["type"] == "integer");
      CHECK(p["schema"]["maximum"] == kMaxReplayLimit);
    }
  CHECK(limit);
  // A choice field anywhere carries exactly its choices.
  for (const auto& c : commands())
    for (const auto& f : c.fields)
      if (f.kind == FieldKind::choice) {
        const std::string path = (has_profile_route(c) ? "/v1/profiles/{profile}/" : "/v1/") + std::string(c.name);
        const json& s = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
                           ["properties"][std::string(f.name)];
        CHECK(s["enum"].size() == f.choices.size());
      }
}

TEST_CASE("http_status: one status per error code, the HTTP ones as the spec says") {
  CHECK(http_status("bad_request") == 400);
  CHECK(http_status("invalid_jid") == 400);
  CHECK(http_status("unauthorized") == 401);
  CHECK(http_status("forbidden") == 403);
  CHECK(http_status("unknown_profile") == 404);
  CHECK(http_status("unknown_command") == 404);
  CHECK(http_status("not_found") == 404);
  CHECK(http_status("method_not_allowed") == 405);
  CHECK(http_status("too_large") == 413);
  CHECK(http_status("rate_limited") == 429);
  CHECK(http_status("already_running") == 409);
  CHECK(http_status("not_connected") == 503);
  CHECK(http_status("timeout") == 504);
  CHECK(http_status("unknown_outcome") == 504);
  CHECK(http_status("busy") == 503);
  CHECK(http_status("db_corrupt") == 500);
  CHECK(http_status("rejected:479") == 502);
  CHECK(http_status("sender_crashed") == 500);
  CHECK(http_status("no_such_code_anywhere") == 500);
  for (const auto& e : error_codes()) {
    int s = http_status(e.code.ends_with(':') ? std::string(e.code) + "1" : std::string(e.code));
    CHECK(s >= 400);
    CHECK(s <= 504);
    if (e.kind == ErrorKind::request) CHECK(s < 500);
  }
  for (const char* c : {"unauthorized", "forbidden", "not_found", "rate_limited", "method_not_allowed"})
    CHECK(find_error(c) != nullptr);
}
