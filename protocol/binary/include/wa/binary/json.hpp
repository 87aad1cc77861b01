// Node <-> JSON, the form tools and tests use to show and build stanzas:
//   {"tag": s, "attrs": {k: s, ...}, "content": null | s | {"bytes": "<hex>"} | [node, ...]}
// Attributes keep their order (ordered_json). Strings that are not valid
// UTF-8 are shown with U+FFFD replacements by dump(); bytes are always hex.
#pragma once

#include <nlohmann/json.hpp>

#include "wa/binary/node.hpp"
#include "wa/result.hpp"

namespace wa::binary {

nlohmann::ordered_json to_json(const Node& node);
// Strict: unknown keys, wrong types, bad hex or nesting deeper than max_depth
// are "bad_json" errors naming the path of the offending value.
Result<Node> from_json(const nlohmann::ordered_json& j, std::size_t max_depth = 64);

// One-line JSON text (invalid UTF-8 replaced, never throws).
std::string to_json_text(const Node& node);
Result<Node> from_json_text(std::string_view text, std::size_t max_depth = 64);

}  // namespace wa::binary
