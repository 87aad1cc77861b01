#include "routing_info.hpp"

#include "wa/log.hpp"

namespace wa::connection {

void RoutingInfo::load(store::Store& st) {
  store_ = &st;
  if (auto ri = st.get_credential(store::cred::routing_info); ri && *ri && (*ri)->size() <= kMaxRoutingInfo)
    bytes_ = std::move(**ri);
}

bool RoutingInfo::on_ib(const binary::Node& ib) {
  const binary::Node* er = ib.child("edge_routing");
  if (er == nullptr) return false;
  const binary::Node* ri = er->child("routing_info");
  if (ri != nullptr && ri->bytes() != nullptr && !ri->bytes()->empty() && ri->bytes()->size() <= kMaxRoutingInfo) {
    bytes_ = *ri->bytes();
    if (store_ == nullptr) return true;
    if (auto st = store_->put_credential(store::cred::routing_info, bytes_); !st)
      WA_WARN("cannot store routing info: %s", st.error().message.c_str());
  }
  return true;
}

}  // namespace wa::connection
