// The one table of incoming stanzas: tag (and, for a <notification>, its
// type) -> handler. Every part of the connection worker that reacts to a
// stanza the server sends on its own registers here (the client's connect,
// pair, login, prekey and routing-info handlers; the worker's receive path,
// chat commands and retry receipts), so what happens to a stanza is found in
// one place. Answers to our own requests (<iq> results, <ack>s of relayed
// stanzas) never get here: the IQ layer matches them by id first.
//
// A handler returns true when it took the stanza, false to pass it on. The
// order tried: the handlers of a notification's type, then those of the tag,
// then the fallbacks; within each list, in the order they were registered.
// dispatch() returns false when nobody took it (the client then acks a
// notification and ignores anything else).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "wa/binary/node.hpp"

namespace wa::connection {

class StanzaDispatch {
 public:
  using Handler = std::function<bool(const binary::Node&)>;

  // Handlers for every stanza with this tag.
  void on(std::string tag, Handler h);
  // Handlers for <notification type=TYPE>, tried before those of the tag.
  void on_notification(std::string type, Handler h);
  // Handlers for what no tag or type handler took.
  void otherwise(Handler h);

  bool dispatch(const binary::Node& stanza) const;

 private:
  using Table = std::map<std::string, std::vector<Handler>, std::less<>>;
  static bool run(const std::vector<Handler>& list, const binary::Node& stanza);

  Table tags_;
  Table notifications_;
  std::vector<Handler> fallback_;
};

}  // namespace wa::connection
