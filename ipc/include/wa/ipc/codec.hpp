// Encodings. Public sockets speak JSON text; internal links speak CBOR of
// the same JSON values (smaller, no escaping of binary data).
#pragma once

#include <nlohmann/json.hpp>

#include "wa/bytes.hpp"
#include "wa/result.hpp"

namespace wa::ipc {

using json = nlohmann::json;

// Nesting limit of every parsed value. Our messages nest a few levels;
// nlohmann's CBOR reader, dump() and to_cbor() recurse once per level.
inline constexpr size_t kMaxJsonDepth = 64;

// The only parsers of bytes from another process. Neither throws: malformed
// input, a number out of range (1e400), a NUL byte in JSON text (nlohmann
// would stop reading there), nesting deeper than kMaxJsonDepth are error
// values (from_cbor: bad_message; parse_json_text: bad_request, too_large
// when memory runs out). Errors name the position, never the content.
Bytes to_cbor(const json& j);
Result<json> from_cbor(ByteView b);
Result<json> parse_json_text(ByteView b, const char* what = "request");  // `what` starts the messages
std::string dump_json(const json& j);       // invalid UTF-8 replaced, never throws

// Reply envelopes of the control protocol.
json ok_reply(json result);
// `details`: more fields of the error object (e.g. the `id` of a message
// whose outcome is unknown); code and message cannot be overridden.
json error_reply(const std::string& code, const std::string& message, const json& details = nullptr);

}  // namespace wa::ipc
