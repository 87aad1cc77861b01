// The API's routes, derived from the command registry (never a second
// table), and the pure steps around a call: the request to the control
// socket, the query parameters of a GET, the view of an event a token may
// have. No I/O here, so the unit tests cover it without a server.
#pragma once

#include <map>
#include <string>

#include "config.hpp"
#include "wa/contract/commands.hpp"
#include "wa/ipc/codec.hpp"

namespace wa::http {

using json = nlohmann::json;

enum class Method { get, post, other };

struct Route {
  enum class Kind {
    command,    // a registry command
    events_ws,  // GET /v1/events (WebSocket)
    qr_svg,     // GET /v1/profiles/{p}/qr.svg
    upload,     // POST /v1/profiles/{p}/media
    healthz, readyz, metrics, openapi,
    file,       // a dashboard file
  };
  Kind kind = Kind::file;
  const contract::CommandSpec* spec = nullptr;
  std::string profile;  // from the path; empty on a global route
  std::string file;     // Kind::file: the path below the dashboard dir ("index.html")
};

// Status-less route matching: not_found / method_not_allowed / invalid_profile.
Result<Route> match_route(Method m, std::string_view path);

// A query string "a=1&b=x%20y" (without '?') → decoded map; bad_request on
// bad escapes or duplicates.
Result<std::map<std::string, std::string>> parse_query(std::string_view q);
std::string url_decode_or_empty(std::string_view s, bool& ok);

// The control request of a command route: GET fields from the query (typed
// by the registry's kinds), POST fields from the JSON body; `profile` from
// the path wins over (and must not be repeated in) the body. A `sends`
// command gets a client_id when it has none, so a REQ resend is
// de-duplicated by the supervisor.
Result<json> build_request(const Route& r, Method m, const std::map<std::string, std::string>& query,
                           std::string_view body);

// The scope/profile check of a command route (forbidden), without the
// profile-less admin rule's exception: a profile-less command needs a token
// for all profiles unless it is read-only (its answer is then filtered).
Status authorize(const Token& t, const Route& r);

// What a token may see of an event: qr / pairing_code secrets only for admin.
json event_view(const Token& t, json event);
// A status result filtered to the token's profiles.
json filter_status(const Token& t, json result);

// The HTTP envelope of an error, and its status.
std::string error_body(const std::string& code, const std::string& message);

}  // namespace wa::http
