#include "wa/ipc/codec.hpp"

namespace wa::ipc {

Bytes to_cbor(const json& j) { return json::to_cbor(j); }

Result<json> from_cbor(ByteView b) {
  json j = json::from_cbor(b.begin(), b.end(), true, false);
  if (j.is_discarded()) return fail("bad_message", "malformed CBOR");
  return j;
}

Result<json> parse_json_text(ByteView b) {
  try {
    return json::parse(b.begin(), b.end());
  } catch (const json::parse_error& e) {
    return fail("bad_request", "request is not valid JSON (byte " + std::to_string(e.byte) + " of " +
                                   std::to_string(b.size()) + ")");
  }
}

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json ok_reply(json result) { return json{{"ok", true}, {"result", std::move(result)}}; }

json error_reply(const std::string& code, const std::string& message) {
  return json{{"ok", false}, {"error", {{"code", code}, {"message", message}}}};
}

}  // namespace wa::ipc
