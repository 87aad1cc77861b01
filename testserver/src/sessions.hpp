// The login state: which connection each logged-in device uses, and which
// registering companion shows which QR ref. The transport owns the
// connections; this only points at them, and forgets one when it closes.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "conn.hpp"
#include "routing.hpp"

namespace wa::testserver {

class Sessions {
 public:
  // c logs in as c.addr; returns the connection of an earlier login of the
  // same device, which c replaces.
  Conn* log_in(Conn& c) {
    Conn*& slot = online_[c.addr];
    Conn* old = slot != &c ? slot : nullptr;
    slot = &c;
    return old;
  }
  // c's connection ended: forgotten, unless a newer login replaced it.
  void log_out(const Conn& c) {
    auto it = online_.find(c.addr);
    if (it != online_.end() && it->second == &c) online_.erase(it);
  }
  Conn* online(const DeviceAddr& addr) const {
    auto it = online_.find(addr);
    return it == online_.end() ? nullptr : it->second;
  }
  std::vector<Conn*> of_account(const std::string& phone) const {
    std::vector<Conn*> out;
    for (const auto& [addr, c] : online_)
      if (addr.phone == phone) out.push_back(c);
    return out;
  }
  size_t online_count() const { return online_.size(); }

  void show_ref(const std::string& ref, Conn& c) { refs_[ref] = &c; }
  Conn* by_ref(const std::string& ref) const {
    auto it = refs_.find(ref);
    return it == refs_.end() ? nullptr : it->second;
  }
  void drop_refs(const Conn& c) {
    for (const auto& r : c.pairing.refs) refs_.erase(r);
  }

  void clear() {
    online_.clear();
    refs_.clear();
  }

 private:
  std::map<DeviceAddr, Conn*> online_;
  std::map<std::string, Conn*> refs_;
};

}  // namespace wa::testserver
