// Encodings. Public sockets speak JSON text; internal links speak CBOR of
// the same JSON values (smaller, no escaping of binary data).
#pragma once

#include <nlohmann/json.hpp>

#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::ipc {

using json = nlohmann::json;

Bytes to_cbor(const json& j);
Result<json> from_cbor(ByteView b);
Result<json> parse_json_text(ByteView b);  // errors name the position, not the content
std::string dump_json(const json& j);       // invalid UTF-8 replaced, never throws

// Reply envelopes of the control protocol.
json ok_reply(json result);
json error_reply(const std::string& code, const std::string& message);

}  // namespace wa::ipc
