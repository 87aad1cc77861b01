// Building blocks for the routing tests: devices in a State, <enc>/<to>
// nodes, and finding one device's delivery in a plan.
#pragma once

#include <string>

#include "routing.hpp"
#include "state.hpp"
#include "wa/binary/node.hpp"

namespace wa::testserver::test_helpers {

inline void add_device(State& st, const std::string& phone, uint16_t id) {
  Account& a = st.ensure_account(phone);
  Device d;
  d.id = id;
  d.key_index = id;
  d.push_name = "n" + phone;
  a.devices[id] = d;
}

inline binary::Node enc(const std::string& type, uint8_t tagbyte) {
  return binary::Node("enc", {{"v", "2"}, {"type", type}}, Bytes{tagbyte});
}

inline binary::Node to(const std::string& jid, binary::Node e) {
  return binary::Node("to", {{"jid", jid}}, binary::Children{std::move(e)});
}

inline const Delivery* find(const RoutePlan& p, const std::string& phone, uint16_t dev) {
  for (const auto& d : p.deliveries)
    if (d.to.phone == phone && d.to.device == dev) return &d;
  return nullptr;
}

}  // namespace wa::testserver::test_helpers
