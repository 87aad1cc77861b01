// Relaying between devices: messages, receipts and chat states through the
// routing planner (routing.cpp), delivery to a live connection or the
// device's offline queue, the client's acks, and the offline backlog handed
// out in batches after login.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <utility>

#include "server.hpp"
#include "stanza.hpp"
#include "wa/binary/codec.hpp"

namespace wa::testserver {

using binary::Node;

namespace {

// Offline delivery: batch sizes a client may ask for, how long to wait for
// its first request, and how long an unanswered batch may hold the next one.
constexpr size_t kDefaultOfflineBatch = 100;
constexpr size_t kMaxOfflineBatch = 1000;
constexpr uint64_t kOfflineBatchWaitMs = 1000;
constexpr uint64_t kOfflineBatchStallMs = 2000;

}  // namespace

void Server::on_message(Conn& c, const Node& msg) {
  ++counters_.messages;
  auto plan = plan_message(state_, c.addr, msg, now_unix());
  if (!plan) {
    int code = ack_error_code(plan.error());
    ++counters_.refused[code];
    Node ack("ack", {{"class", "message"}, {"id", std::string(msg.attr_or("id", ""))},
                     {"from", std::string(msg.attr_or("to", kServerJid))}, {"error", std::to_string(code)}});
    faults_.send_ack(*transport_, c, std::move(ack));
    return;
  }
  (void)state_.batch([&]() -> Status {
    for (auto& d : plan->deliveries) {
      // Blocked: the sender gets its ack as usual, the blocker nothing.
      if (d.to.phone != c.addr.phone && blocks(d.to.phone, c.addr.phone)) continue;
      if (d.to.phone != c.addr.phone) {
        contacts_[c.addr.phone].insert(d.to.phone);
        contacts_[d.to.phone].insert(c.addr.phone);
      }
      deliver(std::move(d));
    }
    return {};  // a failed enqueue is the stanza's own loss, as before
  });
  faults_.send_ack(*transport_, c, std::move(plan->ack));
}

void Server::on_receipt(Conn& c, const Node& r) {
  // A receipt (delivery, retry, read...) answers the message it names.
  ReceiptRecord rec{c.addr, std::string(r.attr_or("type", "")), {std::string(r.attr_or("id", ""))},
                    std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count()};
  answered(c, "message", r.attr_or("id", ""));
  if (const Node* list = r.child("list"))
    for (const auto* item : list->children("item")) {
      answered(c, "message", item->attr_or("id", ""));
      rec.ids.emplace_back(item->attr_or("id", ""));
    }
  receipt_log_.push_back(std::move(rec));
  if (receipt_log_.size() > kMaxReceiptLog) {
    receipt_log_.pop_front();
    ++receipt_log_dropped_;
  }
  ++counters_.receipts;
  if (r.attr_or("type", "") == "retry") ++counters_.retry_receipts;
  if (r.attr_or("type", "") == "server-error") {
    // A media retry goes to the account's phone (emulated here), not to
    // the other companions.
    on_media_retry(c, r);
    return;
  }
  auto plan = plan_receipt(state_, c.addr, r, now_unix());
  if (!plan) return;
  for (auto& d : plan->deliveries) deliver(std::move(d));
  send(c, plan->ack);
}

void Server::on_chatstate(Conn& c, const Node& cs) {
  // Chat state is only worth something now: online devices get it, nothing
  // is queued (as the real server does).
  for (auto& d : plan_chatstate(state_, c.addr, cs)) {
    Conn* to = sessions_.online(d.to);
    if (to && !to->link.closing) send(*to, d.node);
  }
}

void Server::deliver(Delivery d) {
  ++counters_.deliveries;
  Conn* to = sessions_.online(d.to);
  if (to && !to->link.closing) {
    Conn& c = *to;
    std::string id(d.node.attr_or("id", ""));
    Held h{d.node.tag, std::move(id), std::move(d.node), 0, false};
    if (c.outbox.draining) {
      c.outbox.held_live.push_back(std::move(h));
      return;
    }
    send(c, h.node);
    c.outbox.unacked.push_back(std::move(h));
    return;
  }
  ++counters_.queued;
  d.node.set_attr("offline", "1");
  auto bytes = binary::encode(d.node);
  if (bytes) (void)state_.enqueue(d.to.phone, d.to.device, *bytes);
}

void Server::start_offline_delivery(Conn& c) {
  Outbox& o = c.outbox;
  auto queued = state_.queued(c.addr.phone, c.addr.device);
  size_t messages = 0, receipts = 0, notifications = 0;
  std::vector<int64_t> junk;
  for (auto& q : queued) {
    auto n = binary::decode(q.node);
    if (!n) {
      junk.push_back(q.seq);
      continue;
    }
    if (n->tag == "message") ++messages;
    else if (n->tag == "receipt") ++receipts;
    else ++notifications;
    std::string id(n->attr_or("id", ""));
    std::string cls = n->tag;
    o.backlog.push_back(Held{std::move(cls), std::move(id), std::move(*n), q.seq, true});
  }
  (void)state_.dequeue(junk);
  Node preview("offline_preview", {{"count", std::to_string(o.backlog.size())}, {"message", std::to_string(messages)},
                                   {"notification", std::to_string(notifications)},
                                   {"receipt", std::to_string(receipts)}, {"appdata", "0"}, {"call", "0"}});
  send(c, Node("ib", {}, binary::Children{preview}));
  if (o.backlog.empty()) {
    send(c, Node("ib", {}, binary::Children{Node("offline", {{"count", "0"}})}));
    return;
  }
  // The queued stanzas stay in the offline queue until the client answers
  // each one; they go out in the batches the client asks for. A client that
  // never asks (whatsmeow only records the preview) gets them all after a
  // short wait.
  o.draining = true;
  o.batch_timer = std::make_unique<ipc::Timer>(loop_);
  lws* wsi = c.link.wsi;
  uint64_t conn_id = c.id;
  o.batch_timer->start(kOfflineBatchWaitMs, [this, wsi, conn_id] {
    Conn* cc = transport_->find(wsi, conn_id);
    if (!cc) return;
    if (cc->outbox.draining && cc->outbox.batch_size == 0) {
      cc->outbox.batch_size = cc->outbox.backlog.size();
      next_batch(*cc);
    }
  });
}

void Server::on_offline_batch(Conn& c, const Node& batch) {
  Outbox& o = c.outbox;
  if (!o.draining) return;
  size_t n = std::strtoul(std::string(batch.attr_or("count", "0")).c_str(), nullptr, 10);
  if (n == 0) n = kDefaultOfflineBatch;
  bool first = o.batch_size == 0;
  o.batch_size = std::min(n, kMaxOfflineBatch);
  if (first || o.batch_unacked == 0) next_batch(c);
}

void Server::next_batch(Conn& c) {
  Outbox& o = c.outbox;
  if (!o.draining || c.link.closing) return;
  size_t n = std::min(o.batch_size, o.backlog.size());
  o.batch_unacked = 0;
  for (size_t i = 0; i < n; ++i) {
    Held h = std::move(o.backlog.front());
    o.backlog.pop_front();
    h.in_batch = true;
    send(c, h.node);
    o.unacked.push_back(std::move(h));
    ++o.batch_unacked;
    ++o.offline_total;
  }
  if (!o.backlog.empty()) {
    // A client that leaves a stanza unanswered must not stall its backlog.
    lws* wsi = c.link.wsi;
    uint64_t conn_id = c.id;
    size_t sent_before = o.offline_total;
    o.batch_timer->start(kOfflineBatchStallMs, [this, wsi, conn_id, sent_before] {
      Conn* cc = transport_->find(wsi, conn_id);
      if (cc && cc->outbox.offline_total == sent_before) next_batch(*cc);
    });
    return;
  }
  o.batch_timer->stop();
  o.draining = false;
  send(c, Node("ib", {}, binary::Children{Node("offline", {{"count", std::to_string(o.offline_total)}})}));
  // What arrived while the backlog drained follows it, in order.
  for (auto& h : std::exchange(o.held_live, {})) {
    send(c, h.node);
    o.unacked.push_back(std::move(h));
  }
}

void Server::answered(Conn& c, std::string_view cls, std::string_view id) {
  Outbox& o = c.outbox;
  for (auto it = o.unacked.begin(); it != o.unacked.end(); ++it) {
    if (it->cls != cls || it->id != id) continue;
    if (it->seq != 0) (void)state_.dequeue({it->seq});
    bool batch = it->in_batch;
    o.unacked.erase(it);
    if (batch && o.batch_unacked > 0 && --o.batch_unacked == 0 && o.draining) next_batch(c);
    return;
  }
}

void Server::persist_unacked(Conn& c) {
  // A device unlinked meanwhile gets nothing any more.
  const auto* acc = state_.account(c.addr.phone);
  const bool linked = acc != nullptr && acc->devices.count(c.addr.device) > 0;
  // Order kept: what was handed out first is redelivered first.
  auto keep = [&](Held& h) {
    if (!linked) return;
    if (h.seq != 0) return;  // still in the offline queue
    h.node.set_attr("offline", "1");
    if (auto bytes = binary::encode(h.node)) (void)state_.enqueue(c.addr.phone, c.addr.device, *bytes);
  };
  Outbox& o = c.outbox;
  for (auto& h : o.unacked) keep(h);
  for (auto& h : o.backlog) keep(h);
  for (auto& h : o.held_live) keep(h);
  drop_held(c);
  if (o.batch_timer) o.batch_timer->stop();
}

void Server::drop_held(Conn& c) {
  c.outbox.unacked.clear();
  c.outbox.backlog.clear();
  c.outbox.held_live.clear();
  c.outbox.draining = false;
}

}  // namespace wa::testserver
