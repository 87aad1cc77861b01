// Routing info: <ib><edge_routing><routing_info> tells a client which edge
// to come back to. Like Baileys we keep it (in the store, so a restarted
// worker has it too) and echo it as the "ED" prefix of the next intro.
#pragma once

#include <cstddef>

#include "wa/binary/node.hpp"
#include "wa/bytes.hpp"
#include "wa/store/store.hpp"

namespace wa::connection {

// A server cannot make us store (and send back) more than this.
inline constexpr size_t kMaxRoutingInfo = 4096;

class RoutingInfo {
 public:
  // Reads what an earlier connection stored (a value too large is ignored)
  // and keeps `st` for storing the next one; `st` outlives this object.
  void load(store::Store& st);
  // The table's <ib> handler: takes an <ib> that carries <edge_routing>.
  bool on_ib(const binary::Node& ib);
  const Bytes& bytes() const noexcept { return bytes_; }

 private:
  store::Store* store_ = nullptr;
  Bytes bytes_;
};

}  // namespace wa::connection
