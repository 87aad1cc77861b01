#include "dispatch.hpp"

namespace wa::connection {

void StanzaDispatch::on(std::string tag, Handler h) { tags_[std::move(tag)].push_back(std::move(h)); }

void StanzaDispatch::on_notification(std::string type, Handler h) {
  notifications_[std::move(type)].push_back(std::move(h));
}

void StanzaDispatch::otherwise(Handler h) { fallback_.push_back(std::move(h)); }

bool StanzaDispatch::run(const std::vector<Handler>& list, const binary::Node& stanza) {
  for (const auto& h : list)
    if (h(stanza)) return true;
  return false;
}

bool StanzaDispatch::dispatch(const binary::Node& stanza) const {
  if (stanza.tag == "notification") {
    auto t = notifications_.find(stanza.attr_or("type", ""));
    if (t != notifications_.end() && run(t->second, stanza)) return true;
  }
  auto it = tags_.find(stanza.tag);
  if (it != tags_.end() && run(it->second, stanza)) return true;
  return run(fallback_, stanza);
}

}  // namespace wa::connection
