// The stanza table (dispatch.hpp) and the routing-info row: which handler a
// stanza reaches, in which order, and what is left to the client's rule
// for stanzas nobody took (a notification is acked, the rest ignored).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "dispatch.hpp"
#include "must.hpp"
#include "routing_info.hpp"
#include "temp_dir.hpp"
#include "wa/store/sqlite_store.hpp"

using namespace wa;
using namespace wa::connection;
using wa::binary::Node;

namespace {

Node notification(const std::string& type) {
  return Node("notification", {{"id", "n1"}, {"type", type}, {"from", "@s.whatsapp.net"}});
}

using Names = std::vector<std::string>;

// Records which rows a stanza went through; `take` says whether each row
// takes it.
struct Trace {
  Names seen;
  StanzaDispatch::Handler row(std::string name, bool take) {
    return [this, name = std::move(name), take](const Node&) {
      seen.push_back(name);
      return take;
    };
  }
  // The rows `stanza` went through, then "(not taken)" when none took it.
  Names route(const StanzaDispatch& d, const Node& stanza) {
    seen.clear();
    if (!d.dispatch(stanza)) seen.push_back("(not taken)");
    return seen;
  }
};

}  // namespace

TEST_CASE("stanza table: a notification's type rows come before the tag's, then the fallbacks") {
  StanzaDispatch d;
  Trace t;
  d.otherwise(t.row("fallback", true));
  d.on("notification", t.row("any notification", true));
  d.on_notification("encrypt", t.row("prekeys", false));  // passes on what is not its own
  d.on_notification("link_code_companion_reg", t.row("pair code", true));
  CHECK(t.route(d, notification("encrypt")) == Names{"prekeys", "any notification"});
  CHECK(t.route(d, notification("link_code_companion_reg")) == Names{"pair code"});
  CHECK(t.route(d, notification("made_up_type")) == Names{"any notification"});
  CHECK(t.route(d, Node("presence")) == Names{"fallback"});
  // A type row only applies to notifications, not to another tag's type attribute.
  CHECK(t.route(d, Node("iq", {{"type", "encrypt"}})) == Names{"fallback"});
}

TEST_CASE("stanza table: a tag's rows run in registration order until one takes it, and nobody takes what has no row") {
  StanzaDispatch d;
  Trace t;
  d.on("ib", t.row("routing", false));
  d.on("ib", t.row("offline", true));
  d.on("ib", t.row("never", true));
  d.on("message", t.row("message", true));
  d.on_notification("encrypt", t.row("encrypt", true));
  CHECK(t.route(d, Node("ib")) == Names{"routing", "offline"});
  CHECK(t.route(d, Node("message")) == Names{"message"});
  // Not taken: Client::on_node then acks the notification and ignores the call.
  CHECK(t.route(d, notification("made_up_type")) == Names{"(not taken)"});
  CHECK(t.route(d, Node("call")) == Names{"(not taken)"});
  d.otherwise(t.row("fallback", true));
  CHECK(t.route(d, Node("call")) == Names{"fallback"});
}

TEST_CASE("routing info: <ib><edge_routing> is taken and stored, reloaded by the next connection") {
  test::TempDir dir;
  auto st = test::must(store::open_sqlite(dir.file("store.db")));
  RoutingInfo ri;
  ri.load(*st);
  CHECK(ri.bytes().empty());
  CHECK_FALSE(ri.on_ib(Node("ib", {}, binary::Children{Node("offline_preview")})));

  Bytes value{1, 2, 3, 4};
  Node edge("edge_routing", {}, binary::Children{Node("routing_info", {}, value)});
  CHECK(ri.on_ib(Node("ib", {}, binary::Children{edge})));
  CHECK(ri.bytes() == value);
  RoutingInfo next;
  next.load(*st);
  CHECK(next.bytes() == value);

  // Too large: taken (it is edge routing) but neither kept nor stored.
  Node big("edge_routing", {}, binary::Children{Node("routing_info", {}, Bytes(kMaxRoutingInfo + 1, 9))});
  CHECK(ri.on_ib(Node("ib", {}, binary::Children{big})));
  CHECK(ri.bytes() == value);
  RoutingInfo again;
  again.load(*st);
  CHECK(again.bytes() == value);
}
