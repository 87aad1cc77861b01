// The receive path: every incoming message is decrypted and written to the
// profile's durable inbox in ONE store transaction before its delivery
// receipt leaves, so a crash at any point either loses nothing (the server
// redelivers what was never receipted) or finds the message already stored
// (a redelivered id is recognised and not stored or announced twice).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "wa/binary/node.hpp"
#include "wa/message/self.hpp"
#include "wa/result.hpp"
#include "wa/signal/session.hpp"
#include "wa/store/store.hpp"

namespace wa::connection {

class Receiver {
 public:
  struct Hooks {
    std::function<Status(const binary::Node&)> send;   // a receipt or an ack to the server
    std::function<void(nlohmann::json)> event;          // public event {"type": ...}
  };
  static Result<std::unique_ptr<Receiver>> open(const std::string& store_path, Hooks hooks);

  // message, receipt, notification (anything else is ignored here).
  void handle(const binary::Node& stanza);

 private:
  Receiver(std::unique_ptr<store::Store> st, std::unique_ptr<signal::SignalSession> sig, Hooks hooks);
  void on_message(const binary::Node& stanza);
  void on_receipt(const binary::Node& stanza);
  void ack(const binary::Node& stanza);
  // notification.cpp: encrypt notifications (a contact's identity changed);
  // every notification is acked.
  void on_notification(const binary::Node& stanza);
  // A message the server delivers again (no receipt reached it before a
  // crash) whose plaintext is already in the inbox: its receipt is sent
  // again and true returned; it is not decrypted (its ratchet step is taken).
  bool redelivered(const binary::Node& stanza, const message::Self& self);

  std::unique_ptr<store::Store> store_;
  std::unique_ptr<signal::SignalSession> sig_;
  Hooks hooks_;
  std::map<std::string, uint32_t> retries_;  // message id -> retry receipts sent
};

}  // namespace wa::connection
