#include "wa/binary/json.hpp"

#include <string>

namespace wa::binary {
namespace {

using Json = nlohmann::ordered_json;

Result<Node> parse(const Json& j, const std::string& path, std::size_t depth, std::size_t max_depth) {
  auto bad = [&](const std::string& what) { return fail("bad_json", path + ": " + what); };
  if (depth > max_depth) return bad("nesting too deep");
  if (!j.is_object()) return bad("node must be an object");
  Node n;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const Json& v = it.value();
    if (key == "tag") {
      if (!v.is_string() || v.get_ref<const std::string&>().empty()) return bad("tag must be a non-empty string");
      n.tag = v.get<std::string>();
    } else if (key == "attrs") {
      if (v.is_null()) continue;
      if (!v.is_object()) return bad("attrs must be an object");
      n.attrs.reserve(v.size());
      for (auto a = v.begin(); a != v.end(); ++a) {
        if (!a.value().is_string()) return bad("attribute '" + a.key() + "' must be a string");
        n.attrs.emplace_back(a.key(), a.value().get<std::string>());
      }
    } else if (key == "content") {
      if (v.is_null()) {
        n.content = std::monostate{};
      } else if (v.is_string()) {
        n.content = v.get<std::string>();
      } else if (v.is_object()) {
        if (v.size() != 1 || !v.contains("bytes") || !v["bytes"].is_string()) {
          return bad("object content must be {\"bytes\": \"<hex>\"}");
        }
        auto b = from_hex(v["bytes"].get_ref<const std::string&>());
        if (!b) return bad("content bytes are not valid hex");
        n.content = std::move(*b);
      } else if (v.is_array()) {
        Children children;
        children.reserve(v.size());
        for (std::size_t i = 0; i < v.size(); ++i) {
          auto c = parse(v[i], path + ".content[" + std::to_string(i) + "]", depth + 1, max_depth);
          if (!c) return c;
          children.push_back(std::move(*c));
        }
        n.content = std::move(children);
      } else {
        return bad("content must be null, a string, {\"bytes\": hex} or an array of nodes");
      }
    } else {
      return bad("unknown key '" + key + "'");
    }
  }
  if (n.tag.empty()) return bad("node has no tag");
  return n;
}

}  // namespace

nlohmann::ordered_json to_json(const Node& node) {
  Json j = Json::object();
  j["tag"] = node.tag;
  Json attrs = Json::object();
  for (const auto& [k, v] : node.attrs) attrs[k] = v;
  j["attrs"] = std::move(attrs);
  if (const auto* s = node.text()) {
    j["content"] = *s;
  } else if (const auto* b = node.bytes()) {
    j["content"] = Json{{"bytes", to_hex(*b)}};
  } else if (!node.has_content()) {
    j["content"] = nullptr;
  } else {
    Json list = Json::array();
    for (const Node& c : node.children()) list.push_back(to_json(c));
    j["content"] = std::move(list);
  }
  return j;
}

Result<Node> from_json(const nlohmann::ordered_json& j, std::size_t max_depth) {
  return parse(j, "$", 0, max_depth);
}

std::string to_json_text(const Node& node) {
  return to_json(node).dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<Node> from_json_text(std::string_view text, std::size_t max_depth) {
  // nlohmann's parser recurses per nesting level; a depth callback would still
  // recurse, so reject absurd nesting with a cheap bracket scan first.
  std::size_t open = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++open);
    } else if ((c == ']' || c == '}') && open > 0) {
      --open;
    }
  }
  // Each node level costs two brackets ("content": [ { ... } ]) plus "attrs".
  if (deepest > 2 * max_depth + 4) return fail("bad_json", "$: nesting too deep");
  Json j = Json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return fail("bad_json", "not valid JSON");
  return from_json(j, max_depth);
}

}  // namespace wa::binary
