// Injected faults: the admin `fault` command (which connections it hits)
// and the Faults knobs themselves.
#include "faults.hpp"

#include "server.hpp"
#include "wa/ipc/codec.hpp"

namespace wa::testserver {

using binary::Jid;
using binary::Node;
using json = admin::json;

std::vector<Conn*> Server::conns_for(const admin::Fault& f) {
  std::vector<Conn*> out;
  std::optional<DeviceAddr> exact;
  if (!f.jid.empty()) {
    auto j = Jid::parse(f.jid);
    if (j) {
      auto a = resolve(state_, *j);
      if (a && j->device != 0) exact = a;
      else if (a) return sessions_.of_account(a->phone);
    }
    if (exact) {
      if (Conn* c = sessions_.online(*exact)) out.push_back(c);
    }
    return out;
  }
  return sessions_.of_account(f.phone);
}

json Server::admin_fault(const json& req, std::shared_ptr<ipc::PendingRequest>&) {
  auto f = admin::parse_fault(req);
  if (!f) return ipc::error_reply(f.error().code, f.error().message);
  if (f->action == admin::FaultAction::refuse_login) {
    faults_.refuse(f->phone, f->reason);
    return ipc::ok_reply({{"refusing", f->phone}});
  }
  if (f->action == admin::FaultAction::omit_pn) {
    // Not a connection fault: it holds for the device (or account) whether
    // online or not, until `clear`.
    std::optional<DeviceAddr> target;
    if (!f->jid.empty()) {
      auto j = Jid::parse(f->jid);
      target = j ? resolve(state_, *j) : std::nullopt;
      if (!target) return ipc::error_reply("unknown_account", "no account with this JID");
      state_.set_omit_pn(target->phone, j->device != 0 ? std::optional<uint16_t>(j->device) : std::nullopt);
    } else {
      if (!state_.account(f->phone)) return ipc::error_reply("unknown_account", "no account with this number");
      state_.set_omit_pn(f->phone, std::nullopt);
    }
    return ipc::ok_reply({{"omit_pn", target ? pn_jid(target->phone, target->device) : f->phone}});
  }
  if (f->action == admin::FaultAction::clear) {
    if (!f->phone.empty()) {
      faults_.forgive(f->phone);
      state_.clear_omit_pn(f->phone);
    } else if (auto j = Jid::parse(f->jid)) {
      if (auto a = resolve(state_, *j)) state_.clear_omit_pn(a->phone);
    }
  }
  auto targets = conns_for(*f);
  if (targets.empty() && f->action != admin::FaultAction::clear)
    return ipc::error_reply("not_online", "no online connection matches");
  for (Conn* c : targets) faults_.apply(*transport_, *c, *f);
  return ipc::ok_reply({{"connections", targets.size()}});
}

// ---------------------------------------------------------------- Faults

const std::string* Faults::refusal(const std::string& phone) const {
  auto it = refused_.find(phone);
  return it == refused_.end() ? nullptr : &it->second;
}

void Faults::send_ack(Transport& t, Conn& c, Node ack) {
  if (c.faults.drop > 0) {
    --c.faults.drop;
    return;
  }
  if (c.faults.delay > 0) {
    --c.faults.delay;
    uint64_t conn_id = c.id;
    lws* wsi = c.link.wsi;
    uint64_t timer_id = next_timer_id_++;
    auto& timer = ack_timers_[timer_id] = std::make_unique<ipc::Timer>(loop_);
    timer->start(c.faults.delay_ms, [this, &t, timer_id, conn_id, wsi, ack = std::move(ack)]() {
      if (Conn* live = t.find(wsi, conn_id)) t.send_node(*live, ack);
      ack_timers_.erase(timer_id);  // destroys this Timer from its own callback (allowed)
    });
    return;
  }
  t.send_node(c, ack);
}

void Faults::apply(Transport& t, Conn& c, const admin::Fault& f) {
  switch (f.action) {
    case admin::FaultAction::close: t.close_after_flush(c); break;
    case admin::FaultAction::stream_error: t.stream_error(c, f.stream_error); break;
    case admin::FaultAction::malformed_frame: {
      // Valid Noise, invalid node: the client's decoder must cope.
      const Bytes junk{0x00, 0xF8, 0x05, 0xFF, 0xFF, 0xFF};
      t.send_payload(c, junk);
      break;
    }
    case admin::FaultAction::drop_acks: c.faults.drop = f.n; break;
    case admin::FaultAction::delay_acks:
      c.faults.delay = f.n;
      c.faults.delay_ms = f.ms;
      break;
    case admin::FaultAction::clear: c.faults.drop = c.faults.delay = 0; break;
    case admin::FaultAction::refuse_login:
    case admin::FaultAction::omit_pn: break;  // per account or device, not per connection
  }
}

}  // namespace wa::testserver
