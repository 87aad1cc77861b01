#include "wa/binary/node.hpp"

namespace wa::binary {

std::optional<std::string_view> Node::attr(std::string_view key) const noexcept {
  for (const auto& [k, v] : attrs) {
    if (k == key) return std::string_view{v};
  }
  return std::nullopt;
}

std::string_view Node::attr_or(std::string_view key, std::string_view fallback) const noexcept {
  auto v = attr(key);
  return v ? *v : fallback;
}

void Node::set_attr(std::string_view key, std::string value) {
  for (auto& [k, v] : attrs) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  attrs.emplace_back(std::string(key), std::move(value));
}

std::optional<std::string_view> Node::content_chars() const noexcept {
  if (const auto* s = text()) return std::string_view{*s};
  if (const auto* b = bytes()) return as_chars(*b);
  return std::nullopt;
}

std::span<const Node> Node::children() const noexcept {
  if (const auto* c = std::get_if<Children>(&content)) return {c->data(), c->size()};
  return {};
}

const Node* Node::child(std::string_view t) const noexcept {
  for (const Node& c : children()) {
    if (c.tag == t) return &c;
  }
  return nullptr;
}

std::vector<const Node*> Node::children(std::string_view t) const {
  std::vector<const Node*> out;
  for (const Node& c : children()) {
    if (c.tag == t) out.push_back(&c);
  }
  return out;
}

}  // namespace wa::binary
