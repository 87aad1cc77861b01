// The binary node: WhatsApp's XML-like stanza (tag, attributes, content).
// Attributes keep wire order and JIDs stay in their string form; the codec
// decides the wire encoding of each string (token, packed, JID, raw).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "wa/bytes.hpp"

namespace wa::binary {

struct Node;
using Attr = std::pair<std::string, std::string>;
using Attrs = std::vector<Attr>;
using Children = std::vector<Node>;
// What the wire can tell apart: nothing, raw bytes (BINARY_x), a string
// (token / packed / JID), or a list of child nodes.
using Content = std::variant<std::monostate, Bytes, std::string, Children>;

struct Node {
  std::string tag;
  Attrs attrs;
  Content content;

  Node() = default;
  explicit Node(std::string t, Attrs a = {}) : tag(std::move(t)), attrs(std::move(a)) {}
  Node(std::string t, Attrs a, Children c) : tag(std::move(t)), attrs(std::move(a)), content(std::move(c)) {}
  Node(std::string t, Attrs a, Bytes b) : tag(std::move(t)), attrs(std::move(a)), content(std::move(b)) {}
  Node(std::string t, Attrs a, std::string s) : tag(std::move(t)), attrs(std::move(a)), content(std::move(s)) {}

  // Attributes. Lookup returns the first match (the decoder rejects duplicates).
  std::optional<std::string_view> attr(std::string_view key) const noexcept;
  std::string_view attr_or(std::string_view key, std::string_view fallback) const noexcept;
  bool has_attr(std::string_view key) const noexcept { return attr(key).has_value(); }
  void set_attr(std::string_view key, std::string value);  // replaces or appends

  // Content.
  bool has_content() const noexcept { return !std::holds_alternative<std::monostate>(content); }
  const Bytes* bytes() const noexcept { return std::get_if<Bytes>(&content); }
  const std::string* text() const noexcept { return std::get_if<std::string>(&content); }
  // Bytes or string content as characters (many stanzas carry text as bytes).
  std::optional<std::string_view> content_chars() const noexcept;
  // Child list; empty when the content is not a list.
  std::span<const Node> children() const noexcept;
  Children* mutable_children() noexcept { return std::get_if<Children>(&content); }

  const Node* child(std::string_view tag) const noexcept;  // first child with this tag
  std::vector<const Node*> children(std::string_view tag) const;

  bool operator==(const Node&) const = default;
};

}  // namespace wa::binary
