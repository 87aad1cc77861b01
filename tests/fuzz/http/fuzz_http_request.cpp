// What wa-http does with a request's bytes before the control socket sees
// them: the route from the path, the query string, the control request
// built from query or body, the token check; and the pure renderers fed
// outside JSON (an event's view, /metrics from a reply, the config file).
// Nothing may throw or crash, and every refusal carries a code.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api.hpp"
#include "config.hpp"
#include "metrics.hpp"
#include "wa/ipc/codec.hpp"

namespace {
template <class R>
void must_have_code(const R& r) {
  if (!r && r.error().code.empty()) std::abort();
}
std::string_view take_line(std::string_view& in) {
  auto nl = in.find('\n');
  std::string_view line = in.substr(0, nl);
  in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  return line;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using wa::http::Method;
  const Method m = data[0] % 3 == 0 ? Method::get : data[0] % 3 == 1 ? Method::post : Method::other;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string_view path = take_line(in);
  std::string_view query = take_line(in);
  std::string_view body = in;

  auto route = wa::http::match_route(m, path);
  must_have_code(route);
  auto q = wa::http::parse_query(query);
  must_have_code(q);
  if (route && q) {
    auto req = wa::http::build_request(*route, m, *q, body);
    must_have_code(req);
    wa::http::Token t;
    t.scope = static_cast<wa::contract::Access>(data[0] % 3);
    t.all_profiles = (data[0] & 4) != 0;
    t.profiles.insert("sales");
    must_have_code(wa::http::authorize(t, *route));
  }
  auto j = wa::ipc::parse_json_text(wa::ByteView(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
  if (j) {
    wa::http::Token t;
    (void)wa::http::event_view(t, *j);
    (void)wa::http::filter_status(t, *j);
    (void)wa::http::render_metrics(*j, *j);
  }
  must_have_code(wa::http::parse_http_config(body));
  return 0;
}
